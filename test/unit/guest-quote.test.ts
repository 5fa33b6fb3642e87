import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { fingerprintOf, parsePublicKeyLine } from '../../harness/guest/host-key.js';
import { shJoin, shQuote, timeoutDuration, wrapGuestCommand } from '../../harness/guest/quote.js';
import { parseFailedUnits } from '../../harness/guest/reboot.js';

/** What a real POSIX shell makes of a command line: argv via printf, NUL-separated. */
function shellArgv(commandLine: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', `set -- ${commandLine}; printf '%s\\0' "$@"`], { encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

describe('guest shell quoting', () => {
  it('leaves safe words alone and single-quotes the rest', () => {
    expect(shQuote('abc-1.2_x/y:z=w,@%+')).to.equal('abc-1.2_x/y:z=w,@%+');
    expect(shQuote('')).to.equal("''");
    expect(shQuote("it's")).to.equal(`'it'\\''s'`);
    expect(shQuote('$(id)')).to.equal(`'$(id)'`);
  });

  it('nasty strings survive a real /bin/sh as single arguments', () => {
    const nasty = ["'", "''", '"', '$(touch /tmp/x)', '`id`', 'a;b', 'a\nb', '\\', '*', '~', '-e', ' ', '\t', '$HOME', '!', '#x', 'a b  c', 'ünï ✓'];
    expect(shellArgv(shJoin(nasty))).to.deep.equal(nasty);
  });

  it('property: any NUL-free string round-trips through /bin/sh', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }).filter((s) => !s.includes('\0')), { minLength: 1, maxLength: 5 }), (argv) => {
        expect(shellArgv(shJoin(argv))).to.deep.equal(argv);
      }),
      { numRuns: 150 },
    );
  });

  it('refuses NUL bytes and empty argv', () => {
    expect(() => shQuote('a\0b')).to.throw(TypeError, /NUL/);
    expect(() => shJoin([])).to.throw(TypeError, /empty argv/);
  });

  it('wraps commands in sudo -n --, coreutils timeout and sh -c, in that order', () => {
    expect(wrapGuestCommand('echo "$HOME"; ls', { sudo: true, timeoutMs: 5000 })).to.equal(
      `sudo -n -- timeout --kill-after=2.000s 5.000s sh -c 'echo "$HOME"; ls'`,
    );
    expect(wrapGuestCommand('true', { timeoutMs: 1500, killAfterMs: 500 })).to.equal('timeout --kill-after=0.500s 1.500s sh -c true');
    expect(wrapGuestCommand('id -u', { sudo: true })).to.equal(`sudo -n -- sh -c 'id -u'`);
    expect(wrapGuestCommand('x', { shell: 'bash' })).to.equal('bash -c x');
    expect(timeoutDuration(0)).to.equal('0.001s');
  });

  it('the wrapped command reaches sh -c unchanged', () => {
    const cmd = `printf '%s|' "a b" 'c'"'"'d' $(echo e)`;
    const line = wrapGuestCommand(cmd, { timeoutMs: 5000 });
    expect(execFileSync('/bin/sh', ['-c', line], { encoding: 'utf8' })).to.equal(`a b|c'd|e|`);
  });
});

describe('pinned host keys', () => {
  const line = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bootpath@test';
  it('parses a public key line and fingerprints it like ssh-keygen', () => {
    const k = parsePublicKeyLine(line);
    expect(k.type).to.equal('ssh-ed25519');
    expect(k.blob.length).to.equal(51);
    expect(k.fingerprint).to.match(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(fingerprintOf(k.blob)).to.equal(k.fingerprint);
  });
  it('matches ssh-keygen -lf', () => {
    const out = execFileSync('ssh-keygen', ['-lf', '-'], { input: line + '\n', encoding: 'utf8' });
    expect(out.split(' ')[1]).to.equal(parsePublicKeyLine(line).fingerprint);
  });
  it('rejects garbage and a type that does not match the key data', () => {
    expect(() => parsePublicKeyLine('not a key')).to.throw(TypeError, /not an OpenSSH public key line/);
    expect(() => parsePublicKeyLine(line.replace('ssh-ed25519', 'ssh-rsa'))).to.throw(TypeError, /says ssh-rsa but its key data is ssh-ed25519/);
  });
});

describe('parseFailedUnits', () => {
  it('takes the unit name from each line of systemctl --failed --plain --no-legend', () => {
    expect(parseFailedUnits('foo.service loaded failed failed Foo thing\n● bar.mount loaded failed failed Bar\n\n')).to.deep.equal(['foo.service', 'bar.mount']);
    expect(parseFailedUnits('')).to.deep.equal([]);
  });
});
