import type { Logger } from '../logger'

const EXIT_ON_SIGNAL: Record<string, number> = { SIGINT: 130, SIGTERM: 143 }

export interface ShutdownOptions {
  timeoutMs: number
  logger: Logger
  /** Called with the signal just before a second signal exits at once (the cluster primary passes it on). */
  onForce?: (signal: NodeJS.Signals) => void
}

/**
 * First SIGTERM/SIGINT: stop gracefully (close() lets requests in flight finish) and exit 0, or 1
 * when it takes longer than the timeout. A second signal exits at once.
 *
 * Returns the same graceful stop for other triggers (a cluster worker told to stop by its primary);
 * it does nothing once a stop has begun, so a worker that got Ctrl-C's SIGINT itself and then the
 * primary's message is not forced out.
 */
export function exitOnSignals(
  close: () => Promise<void>,
  options: ShutdownOptions,
): (reason: string) => void {
  let stopping = false
  const stop = (reason: string) => {
    if (stopping) return
    stopping = true
    options.logger.info(
      { reason, timeoutMs: options.timeoutMs },
      'shutting down: finishing requests in flight',
    )
    const timer = setTimeout(() => {
      options.logger.error(
        { timeoutMs: options.timeoutMs },
        'shutdown timed out: exiting with requests still open',
      )
      process.exit(1)
    }, options.timeoutMs)
    timer.unref()
    close().then(
      () => {
        options.logger.info('stopped')
        process.exit(0)
      },
      (err: unknown) => {
        options.logger.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      options.logger.warn({ signal }, 'second signal: exiting now')
      options.onForce?.(signal)
      process.exit(EXIT_ON_SIGNAL[signal] ?? 1)
    }
    stop(signal)
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  return stop
}
