/** Every handler, merged from the per-domain files; the type makes a missing handler a compile error. */
import type { Handlers } from '../dispatcher';
import { catalogHandlers } from './catalog';
import { dashboardHandlers } from './dashboard';
import { keysHandlers } from './keys';
import { ledgerHandlers } from './ledger';
import { ordersHandlers } from './orders';
import { paymentsHandlers } from './payments';
import { reconcileHandlers } from './reconcile';
import { settingsHandlers } from './settings';
import { simHandlers } from './sim';

export const HANDLERS: Handlers = {
  ...simHandlers,
  ...catalogHandlers,
  ...keysHandlers,
  ...dashboardHandlers,
  ...ordersHandlers,
  ...ledgerHandlers,
  ...settingsHandlers,
  ...paymentsHandlers,
  ...reconcileHandlers,
};
