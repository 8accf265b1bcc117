/** Every handler, merged from the per-domain files; the type makes a missing handler a compile error. */
import type { Handlers } from '../dispatcher';
import { catalogHandlers } from './catalog';
import { dashboardHandlers } from './dashboard';
import { keysHandlers } from './keys';
import { ledgerHandlers } from './ledger';
import { ordersHandlers } from './orders';
import { settingsHandlers } from './settings';

export const HANDLERS: Handlers = {
  ...catalogHandlers,
  ...keysHandlers,
  ...dashboardHandlers,
  ...ordersHandlers,
  ...ledgerHandlers,
  ...settingsHandlers,
};
