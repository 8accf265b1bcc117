/**
 * The verifier's findings (engine/ledger-verify.ts words them in English for logs and the CLI) in the
 * viewer's language: each known sentence is matched and re-worded from the `ledger` namespace; an
 * unknown one is shown as it came.
 */
import type { TFunction } from 'i18next';

const KEY_STATES = new Set(['none', 'available', 'reserved', 'sold', 'burned', 'staged']);
const ORDER_STATES = new Set(['reserved', 'paid', 'delivered', 'expired', 'refunded', 'needs_review']);
const KINDS = new Set(['import', 'reserve', 'release', 'sell', 'refund', 'burn', 'review']);

type Rule = readonly [RegExp, (t: TFunction, m: RegExpExecArray) => string];

export function problemText(t: TFunction, reason: string): string {
  const key = (s: string | undefined) => (s !== undefined && KEY_STATES.has(s) ? t(`keyState.${s}`) : (s ?? ''));
  const order = (s: string | undefined) => (s !== undefined && ORDER_STATES.has(s) ? t(`orderState.${s}`) : (s ?? ''));
  const kind = (s: string | undefined) => (s !== undefined && KINDS.has(s) ? t(`kind.${s}`) : (s ?? ''));
  const rules: readonly Rule[] = [
    [/^entry (\d+) is missing$/, (tt, m) => tt('problem.missing', { seq: m[1] })],
    [/^its previous-hash does not match/, (tt) => tt('problem.prevHash')],
    [/^its contents do not match its hash/, (tt) => tt('problem.edited')],
    [/^its detail is not JSON$/, (tt) => tt('problem.notJson')],
    [/^it moves key (\d+), which no longer exists$/, (tt, m) => tt('problem.keyGone', { key: m[1] })],
    [
      /^it moves key (\d+) from (\w+), which a (\w+) cannot do$/,
      (tt, m) => tt('problem.badMove', { key: m[1], from: key(m[2]), kind: kind(m[3]) }),
    ],
    [/^it moves key (\d+), held by another order$/, (tt, m) => tt('problem.heldElsewhere', { key: m[1] })],
    [/^its key ids are damaged/, (tt) => tt('problem.keyIdsDamaged')],
    [
      /^key (\d+) is (\w+) but no ledger entry ever imported it$/,
      (tt, m) => tt('problem.neverImported', { key: m[1], status: key(m[2]) }),
    ],
    [
      /^key (\d+) is (\w+) now, but the ledger left it (\w+)$/,
      (tt, m) => tt('problem.keyDiffers', { key: m[1], status: key(m[2]), ledger: key(m[3]) }),
    ],
    [
      /^key (\d+) belongs to order (\S+) now, but the ledger gave it to (\S+)$/,
      (tt, m) => tt('problem.keyOrderDiffers', { key: m[1], order: m[2], ledger: m[3] }),
    ],
    [/^key (\d+) is in the ledger but not in the vault$/, (tt, m) => tt('problem.keyMissing', { key: m[1] })],
    [/^order (\S+) is not in the ledger$/, (tt, m) => tt('problem.orderMissing', { order: m[1] })],
    [
      /^order (\S+) is (\w+) now, but the ledger left it (\w+)$/,
      (tt, m) => tt('problem.orderDiffers', { order: m[1], status: order(m[2]), ledger: order(m[3]) }),
    ],
  ];
  for (const [pattern, word] of rules) {
    const match = pattern.exec(reason);
    if (match) return word(t, match);
  }
  return reason;
}
