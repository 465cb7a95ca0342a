/** How many times a crashed server is restarted before we give up and tell the user, so a broken server never loops. */
export class RestartBudget {
  private crashTimes: number[] = [];

  constructor(
    private readonly maxRestarts: number,
    private readonly windowMs: number,
  ) {}

  /** Records a crash at `now` and answers whether another restart is still within the budget. */
  allowRestartAfterCrash(now: number): boolean {
    this.crashTimes = this.crashTimes.filter((time) => now - time < this.windowMs);
    this.crashTimes.push(now);
    return this.crashTimes.length <= this.maxRestarts;
  }

  get recentCrashes(): number {
    return this.crashTimes.length;
  }

  reset(): void {
    this.crashTimes = [];
  }
}
