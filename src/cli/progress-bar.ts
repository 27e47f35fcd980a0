/**
 * A one-line progress bar on stderr, redrawn at most every 100 ms; silent when stderr is not a
 * terminal (CI logs, pipes) except for the final line.
 */
export class ProgressBar {
  private last = 0
  private readonly tty: boolean

  constructor(
    private readonly label: string,
    private readonly total: number | undefined,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(out.isTTY)
  }

  update(done: number): void {
    if (!this.tty) return
    const now = Date.now()
    if (now - this.last < 100) return
    this.last = now
    this.out.write(`\r${this.render(done)}`)
  }

  finish(done: number): void {
    this.out.write(`${this.tty ? '\r' : ''}${this.render(done)}\n`)
  }

  render(done: number): string {
    const count = done.toLocaleString('en-US')
    if (!this.total) return `${this.label} ${count}`
    const ratio = Math.min(1, done / this.total)
    const width = 30
    const filled = Math.round(ratio * width)
    return `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor(ratio * 100)}% ${count}/${this.total.toLocaleString('en-US')}`
  }
}
