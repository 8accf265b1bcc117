/** One sentence for any failure, in the viewer's language: a TransportError by its stable code. */
import type { TFunction } from 'i18next';
import { TransportError } from '../transport/types';

export function describeError(t: TFunction, error: unknown): string {
  if (error instanceof TransportError) return t(`errors.${error.code}`, { ns: 'common', message: error.message });
  return t('states.error', { ns: 'common' });
}
