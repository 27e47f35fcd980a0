/** A plan that cannot be made: the message names what is wrong in the source's data. */
export class PlanError extends Error {
  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
    this.name = 'PlanError'
  }
}
