import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises'
import path from 'node:path'

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * The embedded database belongs to one process at a time: two processes writing one PGlite
 * directory corrupt it. A pid file claims the directory; a stale one (its process gone) is taken over.
 */
export async function lockDataDir(dir: string): Promise<{ release(): Promise<void> }> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const file = path.join(dir, 'orgsync.pid')
  let lastError: unknown
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 })
      return {
        async release() {
          await unlink(file).catch(() => undefined)
        },
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      lastError = err
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim())
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new Error(
          `the embedded database in ${dir} is in use by another orgsync process (pid ${pid}); stop it first, or use PostgreSQL (DATABASE_URL) to run several`,
          { cause: err },
        )
      }
      await unlink(file).catch(() => undefined)
    }
  }
  throw new Error(`could not claim ${file}`, { cause: lastError })
}
