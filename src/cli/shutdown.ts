import type { Logger } from '../logger'

const EXIT_ON_SIGNAL: Record<string, number> = { SIGINT: 130, SIGTERM: 143 }

/**
 * First SIGTERM/SIGINT: stop gracefully (close() lets requests in flight finish) and exit 0, or 1
 * when it takes longer than the timeout. A second signal exits at once.
 */
export function exitOnSignals(
  close: () => Promise<void>,
  options: { timeoutMs: number; logger: Logger },
): void {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      options.logger.warn({ signal }, 'second signal: exiting now')
      process.exit(EXIT_ON_SIGNAL[signal] ?? 1)
    }
    stopping = true
    options.logger.info(
      { signal, timeoutMs: options.timeoutMs },
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
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
}
