/**
 * Create or edit a product: name, price in major units (converted to integer minor units with
 * shared/money.ts, never through a float), currency, on sale, and the product's low-stock alert.
 */
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { currencyExponent, formatMajorUnits, isCurrency, parseMajorUnits } from '../../../shared/money';
import type { DashboardProduct } from '../../../shared/rpc/dashboard';
import { Button, describeError, Dialog, Field, Input, Select, toast } from '../../components';
import { useTransport } from '../../transport';
import { useProducts } from './store';

const CURRENCIES = ['CNY', 'USD', 'EUR', 'HKD', 'TWD', 'JPY', 'GBP', 'SGD', 'KRW'] as const;

export interface ProductDialogProps {
  /** The product to edit; omitted to create one. */
  readonly product?: DashboardProduct;
  readonly onClose: (savedId?: string) => void;
}

function example(currency: string): string {
  return formatMajorUnits({ amount: 50 * 10 ** currencyExponent(currency), currency });
}

export function ProductDialog({ product, onClose }: ProductDialogProps) {
  const { t } = useTranslation('products');
  const transport = useTransport();
  const save = useProducts((s) => s.save);
  const fallback = useProducts((s) => s.defaultThreshold);
  const [name, setName] = useState(product?.name ?? '');
  const [price, setPrice] = useState(product ? formatMajorUnits(product.price) : '');
  const [currency, setCurrency] = useState(product?.price.currency ?? 'CNY');
  const [onSale, setOnSale] = useState(product?.onSale ?? true);
  const [threshold, setThreshold] = useState(product?.thresholdSource === 'product' ? String(product.lowStockThreshold) : '');
  const [touched, setTouched] = useState(false);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);

  const currencyOk = isCurrency(currency);
  const amount = currencyOk ? parseMajorUnits(price, currency) : null;
  const thresholdValue = threshold.trim() === '' ? null : /^\d{1,9}$/.test(threshold.trim()) ? Number(threshold.trim()) : NaN;
  const errors = {
    name: name.trim().length < 1 || name.trim().length > 200 ? t('dialog.nameRequired') : null,
    price:
      amount === null && currencyOk
        ? t('dialog.priceInvalid', { example: example(currency), decimals: currencyExponent(currency) })
        : null,
    currency: currencyOk ? null : t('dialog.currencyInvalid'),
    threshold: Number.isNaN(thresholdValue) ? t('dialog.thresholdInvalid') : null,
  };
  const valid = !errors.name && !errors.price && !errors.currency && !errors.threshold;
  const show = (error: string | null) => (touched ? error : null);
  const currencyOptions = [...new Set<string>([...CURRENCIES, currency])].map((code) => ({ value: code, label: code }));

  async function submit(event: FormEvent) {
    event.preventDefault();
    setTouched(true);
    if (!valid || amount === null) return;
    setBusy(true);
    setFailure(null);
    try {
      const id = await save(
        transport,
        { name, price: { amount, currency }, onSale, lowStockThreshold: thresholdValue },
        product?.id,
      );
      toast.success(product ? t('dialog.saved', { name: name.trim() }) : t('dialog.created', { name: name.trim() }));
      onClose(id);
    } catch (error) {
      setFailure(describeError(t, error));
      setBusy(false);
    }
  }

  return (
    <Dialog
      open
      title={product ? t('dialog.editTitle', { name: product.name }) : t('dialog.createTitle')}
      onClose={() => onClose()}
      footer={
        <>
          <Button onClick={() => onClose()}>{t('actions.cancel', { ns: 'common' })}</Button>
          <Button variant="primary" type="submit" form="product-form" busy={busy}>
            {product ? t('actions.save', { ns: 'common' }) : t('actions.create', { ns: 'common' })}
          </Button>
        </>
      }
    >
      <form id="product-form" className="product-form" onSubmit={(event) => void submit(event)} noValidate>
        <Field label={t('dialog.name')} hint={t('dialog.nameHint')} error={show(errors.name)}>
          <Input data-autofocus value={name} maxLength={200} onChange={(e) => setName(e.target.value)} autoComplete="off" />
        </Field>
        <div className="product-form__row">
          <Field
            label={t('dialog.price')}
            hint={t('dialog.priceHint', { currency, example: example(currency) })}
            error={show(errors.price)}
          >
            <Input
              value={price}
              inputMode="decimal"
              onChange={(e) => setPrice(e.target.value)}
              placeholder={example(currency)}
              autoComplete="off"
            />
          </Field>
          <Field label={t('dialog.currency')} error={show(errors.currency)}>
            <Select value={currency} onChange={(e) => setCurrency(e.target.value)} options={currencyOptions} />
          </Field>
        </div>
        <label className="check">
          <input type="checkbox" checked={onSale} onChange={(e) => setOnSale(e.target.checked)} />
          <span>
            <strong>{t('dialog.onSale')}</strong>
            <span className="check__hint">{t('dialog.onSaleHint')}</span>
          </span>
        </label>
        <Field label={t('dialog.threshold')} hint={t('dialog.thresholdHint', { fallback })} error={show(errors.threshold)}>
          <Input
            value={threshold}
            inputMode="numeric"
            onChange={(e) => setThreshold(e.target.value)}
            placeholder={String(fallback)}
            autoComplete="off"
          />
        </Field>
        {failure ? (
          <p className="field__error" role="alert">
            {failure}
          </p>
        ) : null}
      </form>
    </Dialog>
  );
}
