/** An order's status as a coloured, worded badge. */
import { useTranslation } from 'react-i18next';
import type { OrderStatus } from '../../../shared/api';
import { Badge, type BadgeTone } from '../../components';

const TONES: Record<OrderStatus, BadgeTone> = {
  reserved: 'info',
  paid: 'success',
  delivered: 'success',
  expired: 'neutral',
  refunded: 'neutral',
  needs_review: 'warning',
};

export function StatusBadge({ status }: { status: OrderStatus }) {
  const { t } = useTranslation('orders');
  return <Badge tone={TONES[status]}>{t(`status.${status}`)}</Badge>;
}
