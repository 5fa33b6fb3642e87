import { expect } from 'chai';
import { decideAttempt, dueForAttempt } from '../../harness/guest/connect.js';

describe('harness/guest/connect scheduling', () => {
  const base = { now: 10_000, hinted: false, readyAt: -Infinity, maxSilent: 3, minSilentAge: 1000 };

  it('never starts another attempt while a server is talking on one', () => {
    expect(decideAttempt([{ talking: true, startedAt: 0 }], base)).to.deep.equal({ kind: 'wait' });
  });

  it('overlaps silent attempts up to the cap, then supersedes the oldest only once it is old enough', () => {
    expect(decideAttempt([], base)).to.deep.equal({ kind: 'start' });
    expect(decideAttempt([{ talking: false, startedAt: 9000 }, { talking: false, startedAt: 9500 }], base)).to.deep.equal({ kind: 'start' });
    const full = [
      { talking: false, startedAt: 9200 },
      { talking: false, startedAt: 9500 },
      { talking: false, startedAt: 9800 },
    ];
    expect(decideAttempt(full, base)).to.deep.equal({ kind: 'wait' });
    expect(decideAttempt(full, { ...base, now: 10_300 })).to.deep.equal({ kind: 'supersede-then-start', oldest: 0 });
  });

  it('with a ready hint: one attempt at a time; one from before the hint is replaced at once', () => {
    const one = [{ talking: false, startedAt: 9900 }];
    expect(decideAttempt(one, { ...base, hinted: true })).to.deep.equal({ kind: 'wait' });
    expect(decideAttempt(one, { ...base, hinted: true, now: 11_000 })).to.deep.equal({ kind: 'supersede-then-start', oldest: 0 });
    expect(decideAttempt(one, { ...base, hinted: true, readyAt: 9950 })).to.deep.equal({ kind: 'supersede-then-start', oldest: 0 });
    expect(decideAttempt(one, { ...base, hinted: true, readyAt: 9800 })).to.deep.equal({ kind: 'wait' });
  });

  it('attempts are due every interval (sparser before the hint), sooner after a refusal', () => {
    const pacing = { interval: 150, unreadyInterval: 5000, refusedRetry: 50 };
    expect(dueForAttempt({ now: 1000, lastStartAt: 900, lastRefusedAt: -Infinity, ready: true, pacing })).to.equal(false);
    expect(dueForAttempt({ now: 1050, lastStartAt: 900, lastRefusedAt: -Infinity, ready: true, pacing })).to.equal(true);
    expect(dueForAttempt({ now: 1000, lastStartAt: 900, lastRefusedAt: 920, ready: true, pacing })).to.equal(true);
    expect(dueForAttempt({ now: 2000, lastStartAt: 900, lastRefusedAt: -Infinity, ready: false, pacing })).to.equal(false);
    expect(dueForAttempt({ now: 1000, lastStartAt: 900, lastRefusedAt: 950, ready: false, pacing })).to.equal(true);
  });
});
