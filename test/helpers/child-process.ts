import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import path from 'node:path'

export const ROOT = path.resolve(__dirname, '../..')

export interface Child {
  readonly process: ChildProcessWithoutNullStreams
  /** Everything printed so far. */
  stdout(): string
  stderr(): string
  /** Resolves when stdout has a line matching `pattern` (rejects if the process exits first). */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Runs a TypeScript entry point of ours in a child Node process through tsx. */
export function runTs(entry: string, args: string[], env: Record<string, string | undefined>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, entry), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  })
  let out = ''
  let err = ''
  const listeners: (() => void)[] = []
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString()
    listeners.forEach((l) => l())
  })
  proc.stderr.on('data', (d: Buffer) => {
    err += d.toString()
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => {
      listeners.forEach((l) => l())
      resolve({ code, signal })
    }),
  )
  return {
    process: proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(pattern)
          if (m) {
            listeners.splice(listeners.indexOf(check), 1)
            resolve(m)
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            listeners.splice(listeners.indexOf(check), 1)
            reject(new Error(`process exited before printing ${pattern}; stdout:\n${out}\nstderr:\n${err}`))
          }
        }
        listeners.push(check)
        check()
      })
    },
  }
}
