/**
 * The expiry sweeper of a shop (either backend): sweeps once at start (holds that expired while no
 * server ran), then every `intervalMs`, never keeping the process alive by itself. An error is reported
 * and the next tick tries again.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly sweep: () => Promise<number>) {}

  start(intervalMs = 5000, onError: (error: unknown) => void = () => undefined): Promise<number> {
    this.stop();
    this.timer = setInterval(() => {
      this.sweep().catch(onError);
    }, intervalMs);
    this.timer.unref();
    return this.sweep();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
