import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StoreLockedError } from '../errors.js';

/**
 * PGlite lets two processes open one data directory and then silently diverge, so the embedded
 * store holds a lock file with its pid. A lock whose pid is no longer alive (a killed process)
 * is taken over at once rather than after a staleness timeout.
 */
export async function acquireDataDirLock(lockPath: string): Promise<() => Promise<void>> {
  await mkdir(dirname(lockPath), { recursive: true });
  for (let tries = 0; tries < 3; tries++) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        await rm(lockPath, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
        throw new StoreLockedError(
          `The embedded database at ${lockPath.replace(/\.lock$/, '')} is in use by process ${holder}. ` +
            'Stop that process, point this one at another data directory, or use DATABASE_URL ' +
            'for a Postgres server that many processes can share.',
        );
      }
      if (holder === process.pid) {
        throw new StoreLockedError(
          `The embedded database at ${lockPath.replace(/\.lock$/, '')} is already open in this process; share one store.`,
        );
      }
      await rm(lockPath, { force: true }); // Stale: its process is gone.
    }
  }
  throw new StoreLockedError(`Could not take the lock ${lockPath}; another process keeps racing for it.`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
