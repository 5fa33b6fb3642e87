/**
 * bootc-image-builder runs osbuild in a privileged container that writes SELinux labels the host
 * policy does not know; on an SELinux-enforcing host that needs the `osbuild` policy module from
 * the `osbuild-selinux` package ("Contains the necessary SELinux policies that allows osbuild to use
 * labels unknown to the host inside the containers it uses to build OS artifacts", Fedora's
 * package description). Without it the build fails deep inside osbuild with a permission error.
 *
 * Enforcing: /sys/fs/selinux/enforce reads "1". Installed: the module is in a policy store —
 * `%selinux_modules_install` puts it at /var/lib/selinux/<type>/active/modules/<priority>/osbuild
 * (priority 200 from the package macro; any priority counts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export type OsbuildSelinux = { kind: 'not-enforcing' } | { kind: 'installed'; module: string } | { kind: 'missing' };

export const OSBUILD_SELINUX_REMEDY = 'sudo dnf install -y osbuild-selinux (SELinux is enforcing: bootc-image-builder needs the osbuild policy module)';

export function osbuildSelinux(root = '/'): OsbuildSelinux {
  let enforce = '';
  try {
    enforce = readFileSync(path.join(root, 'sys/fs/selinux/enforce'), 'utf8').trim();
  } catch {
    return { kind: 'not-enforcing' };
  }
  if (enforce !== '1') return { kind: 'not-enforcing' };
  const store = path.join(root, 'var/lib/selinux');
  for (const type of safeList(store)) {
    const modules = path.join(store, type, 'active', 'modules');
    for (const priority of safeList(modules)) {
      const module = path.join(modules, priority, 'osbuild');
      if (existsSync(module)) return { kind: 'installed', module };
    }
  }
  return { kind: 'missing' };
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
