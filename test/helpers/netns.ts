/**
 * Separate hosts on one machine, for the tests of a shop spread over several hosts: one Linux network
 * namespace per host (`ip netns add`), with only its own loopback up and no other interface. A process
 * started inside one (`host.wrap(...)`, i.e. `ip netns exec <name> ...`) listens on that host's
 * 127.0.0.1, which no other namespace reaches, and itself reaches nothing outside it over the network;
 * it reaches PostgreSQL through a Unix socket (files are not network-namespaced). So nothing ever listens
 * beyond a loopback.
 *
 * Needs Linux, root and iproute2's `ip` (`.ci/run` installs it), and a kernel or container that lets
 * root make namespaces: `netnsUnavailable()` says which of these is missing, for the skip message.
 * Names carry the pid of the process that made them (`oncekey-<pid>-<label>`), so parallel runs never
 * collide; namespaces left by a process that died are removed when the next one is made.
 */
import { findOnPath, isAlive, runToEnd } from './server-process';

const IP = process.platform === 'linux' ? findOnPath('ip') : undefined;
const PREFIX = 'oncekey-';

export interface NetnsHost {
  /** The namespace's name, `oncekey-<pid>-<label>`. */
  readonly name: string;
  /** The argv that runs `command args` inside this host (a plain function: pass it around unbound). */
  readonly wrap: (command: string, args: readonly string[]) => { file: string; args: string[] };
  /** SIGKILLs whatever still runs inside, then deletes the namespace. Safe to call twice. */
  remove(): void;
}

/** Why namespaces cannot be made here (for a skip message), or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces are Linux only (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'ip netns needs root';
  if (!IP) return 'no `ip` command on PATH (Debian: apt-get install iproute2)';
  // Everything createHost does, once: a container may allow `add` yet refuse `exec` (it remounts /sys).
  const probe = `${PREFIX}${process.pid}-probe`;
  const added = ip(['netns', 'add', probe]);
  if (!added.ok) return `ip netns add failed: ${added.output.trim()}`;
  const up = ip(['netns', 'exec', probe, 'ip', 'link', 'set', 'lo', 'up']);
  const deleted = ip(['netns', 'delete', probe]);
  if (!up.ok) return `ip netns exec failed: ${up.output.trim()}`;
  if (!deleted.ok) return `ip netns delete failed: ${deleted.output.trim()}`;
  return undefined;
}

let labels = 0;

/** A new namespace with its loopback up. Throws with `ip`'s own words when that fails. */
export function createHost(label = String(++labels)): NetnsHost {
  removeOrphans();
  const name = `${PREFIX}${process.pid}-${label}`;
  check(ip(['netns', 'add', name]), `ip netns add ${name}`);
  let removed = false;
  const host: NetnsHost = {
    name,
    wrap: (command, args) => ({ file: IP!, args: ['netns', 'exec', name, command, ...args] }),
    remove() {
      if (removed) return;
      removed = true;
      removeNamespace(name);
    },
  };
  try {
    check(ip(['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']), `bringing up the loopback of ${name}`);
  } catch (error) {
    host.remove();
    throw error;
  }
  return host;
}

function removeNamespace(name: string): void {
  // A namespace outlives `ip netns delete` while a process still runs in it: end ours first.
  const pids = ip(['netns', 'pids', name]);
  for (const pid of pids.ok ? pids.output.split(/\s+/).filter(Boolean).map(Number) : []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  ip(['netns', 'delete', name]);
}

/** Deletes `oncekey-<pid>-*` namespaces whose pid has died (a worker killed before its afterAll). */
function removeOrphans(): void {
  const list = ip(['netns', 'list']);
  if (!list.ok) return;
  for (const line of list.output.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const owner = new RegExp(`^${PREFIX}(\\d+)-`).exec(name)?.[1];
    if (owner !== undefined && Number(owner) !== process.pid && !isAlive(Number(owner))) removeNamespace(name);
  }
}

function ip(args: readonly string[]): { ok: boolean; output: string } {
  if (!IP) return { ok: false, output: 'no `ip` command on PATH' };
  return runToEnd(IP, args, { timeoutMs: 15_000 });
}

function check(result: { ok: boolean; output: string }, what: string): void {
  if (!result.ok) throw new Error(`${what} failed: ${result.output.trim()}`);
}
