import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

/**
 * What the tests against real directory servers (Samba's AD DC, OpenLDAP's slapd) share: finding
 * their programs, running the shell script that installs and starts one, and a describe() that
 * skips with a printed reason when the server cannot run here.
 */

/** Whether a program is installed (sbin directories included: servers live there). */
export function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin')
    .split(':')
    .concat(['/usr/sbin', '/sbin'])
    .some((dir) => dir !== '' && fs.existsSync(path.join(dir, cmd)))
}

/** Runs `bash script args…`; a failure carries the script's stderr. */
export function runScript(script: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [script, ...args],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env } },
      (err, stdout, stderr) => {
        if (err)
          reject(new Error(`${path.basename(script)} ${args.join(' ')} failed: ${err.message}\n${stderr}`))
        else resolve(stdout)
      },
    )
  })
}

export interface ScriptServer<T> {
  /** Synchronous (describe blocks are): whether the server can run here. */
  available: () => boolean
  /** Why it cannot, and what to install: the skipped test's name and the printed warning. */
  unavailable: string
  /** Starts (or reuses) the server; once per test process. */
  start: () => Promise<T>
  startTimeoutMs: number
  /** What `fn`'s getter says when used before the server is up. */
  label: string
}

const warned = new Set<string>()

/**
 * describe() that starts the server in a beforeAll and hands fn a getter for it. Without the server
 * it registers one skipped test whose name says what to install, and warns once per process.
 */
export function describeWithServer<T>(
  server: ScriptServer<T>,
  name: string,
  fn: (get: () => T) => void,
): void {
  if (!server.available()) {
    if (!warned.has(server.unavailable)) {
      warned.add(server.unavailable)
      // Straight to stderr: jest drops the console output of a suite whose tests are all skipped.
      process.stderr.write(`\n[orgsync tests] ${server.unavailable}\n`)
    }
    describe(name, () => {
      test.skip(server.unavailable, () => undefined)
    })
    return
  }
  describe(name, () => {
    let value: T | undefined
    beforeAll(async () => {
      value = await server.start()
    }, server.startTimeoutMs)
    fn(() => {
      if (value === undefined)
        throw new Error(`${server.label} is not started (use it inside tests or hooks, not at collection)`)
      return value
    })
  })
}

/** A start function that runs once per process and may be retried after a failure. */
export function once<T>(start: () => Promise<T>): () => Promise<T> {
  let started: Promise<T> | undefined
  return () => {
    started ??= start()
    started.catch(() => {
      started = undefined
    })
    return started
  }
}
