/** The deterministic sessions the Simulator page is stepping through, by id; the oldest go first past a few. */
import { randomBytes } from 'node:crypto';
import type { Scenario } from '../../shared/sim';
import { Session } from './deterministic';

export const MAX_SESSIONS = 8;

export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();

  start(scenario: Scenario): { id: string; session: Session } {
    while (this.sessions.size >= MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.close(oldest);
    }
    const id = `sim_${randomBytes(8).toString('hex')}`;
    const session = new Session(scenario);
    this.sessions.set(id, session);
    return { id, session };
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  close(id: string): boolean {
    const session = this.sessions.get(id);
    if (!session) return false;
    this.sessions.delete(id);
    session.close();
    return true;
  }

  closeAll(): void {
    for (const id of [...this.sessions.keys()]) this.close(id);
  }
}
