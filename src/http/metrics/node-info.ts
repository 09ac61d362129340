// Node-level readings for the series RabbitMQ takes from the Erlang VM and the OS. Warren is one
// Node.js process, so each is the nearest honest equivalent (see the README's Prometheus section):
// resident memory is the process RSS, the memory limit is the memory alarm's watermark, disk
// figures come from the resource monitor's statfs of the data directory, file descriptors from
// /proc/self (Linux; elsewhere the fd series are left out rather than made up).
import { readdirSync, readFileSync } from 'node:fs';
import type { ManagementContext } from '../context.js';

export interface NodeInfo {
  residentMemory: number;
  memoryLimit: number;
  diskFree: number | null;
  diskFreeLimit: number;
  openFds: number | null;
  maxFds: number | null;
  openSockets: number;
  uptimeSeconds: number;
}

let maxFdsCache: number | null | undefined;

/** The soft limit on open files ("Max open files" in /proc/self/limits); it does not change at run time. */
function maxFds(): number | null {
  if (maxFdsCache !== undefined) return maxFdsCache;
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    maxFdsCache = soft === undefined || soft === 'unlimited' ? null : Number(soft);
  } catch {
    maxFdsCache = null;
  }
  return maxFdsCache;
}

function openFds(): number | null {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return null;
  }
}

export function readNodeInfo(ctx: ManagementContext): NodeInfo {
  const diskFree = ctx.monitor?.diskFree;
  return {
    residentMemory: process.memoryUsage.rss(),
    memoryLimit: ctx.config.memoryHighWatermark,
    diskFree: diskFree === undefined || !Number.isFinite(diskFree) ? null : diskFree,
    diskFreeLimit: ctx.config.diskFreeLimit,
    openFds: openFds(),
    maxFds: maxFds(),
    // Every client socket is an AMQP connection in the server's set (HTTP sockets are not counted).
    openSockets: ctx.amqp.connections.size,
    uptimeSeconds: (Date.now() - ctx.startedAt) / 1000,
  };
}
