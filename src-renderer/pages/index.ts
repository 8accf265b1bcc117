/**
 * Every page of the admin app. The navigation and the router read PAGES; a page joins by adding one
 * line to REGISTERED (and its namespace to i18n/index.ts). The sidebar order is NAV_ORDER, whatever
 * order the lines were added in.
 */
import { DashboardPage } from './dashboard/DashboardPage';
import { LedgerPage } from './ledger/LedgerPage';
import { OrdersPage } from './orders/OrdersPage';
import { ProductsPage } from './products/ProductsPage';
import { ReconcilePage } from './reconcile/ReconcilePage';
import { SettingsPage } from './settings/SettingsPage';
import { SimulatorPage } from './simulator/SimulatorPage';
import type { PageDef } from './types';

export type { PageDef } from './types';

/** Sidebar order; a page not named here goes last. */
export const NAV_ORDER = ['dashboard', 'products', 'orders', 'ledger', 'reconcile', 'simulator', 'settings'] as const;

const REGISTERED: PageDef[] = [
  // { id: '<id>', titleKey: 'nav.<id>', component: <Id>Page },
  { id: 'dashboard', titleKey: 'nav.dashboard', component: DashboardPage },
  { id: 'products', titleKey: 'nav.products', component: ProductsPage },
  { id: 'orders', titleKey: 'nav.orders', component: OrdersPage },
  { id: 'ledger', titleKey: 'nav.ledger', component: LedgerPage },
  { id: 'settings', titleKey: 'nav.settings', component: SettingsPage },
  { id: 'reconcile', titleKey: 'nav.reconcile', component: ReconcilePage },
  { id: 'simulator', titleKey: 'nav.simulator', component: SimulatorPage },
];

function rank(id: string): number {
  const index = (NAV_ORDER as readonly string[]).indexOf(id);
  return index === -1 ? NAV_ORDER.length : index;
}

export const PAGES: readonly PageDef[] = [...REGISTERED].sort((a, b) => rank(a.id) - rank(b.id));
