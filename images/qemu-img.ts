/** `qemu-img info` of a downloaded or built disk: is it really the disk format we think it is? */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { HostNotCapableError, InfraError } from '../core/errors.js';

const execFileP = promisify(execFile);

export interface DiskInfo {
  format: string;
  virtualSize: number;
  actualSize?: number;
}

export async function qemuImgInfo(file: string): Promise<DiskInfo> {
  let stdout: string;
  try {
    ({ stdout } = await execFileP('qemu-img', ['info', '--output=json', file], { maxBuffer: 4 << 20 }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new HostNotCapableError('qemu-img is needed to check image files but was not found', 'apt-get install qemu-utils (Debian/Ubuntu) or dnf install qemu-img (Fedora)');
    throw new InfraError(`qemu-img info ${file} failed: ${(e.stderr ?? e.message).trim()}`, 'image');
  }
  const info = JSON.parse(stdout) as { format?: string; 'virtual-size'?: number; 'actual-size'?: number };
  return { format: info.format ?? 'unknown', virtualSize: info['virtual-size'] ?? 0, actualSize: info['actual-size'] };
}
