/** `oncekey product create|list`, in the SQLite file or the PostgreSQL database (`--database`). */
import { isCurrency, parseMajorUnits } from '../../../shared/money';
import { JSON_OPTION, parse, printJson, requireString, UsageError, type Io } from '../context';
import { BACKEND_OPTIONS, openBackend } from '../open-backend';
import { stockCommand } from './stock';

export async function productCommand(argv: readonly string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'list') return stockCommand(rest, io);
  if (sub !== 'create') throw new UsageError('usage: oncekey product create|list --data <dir> [--database postgres://...] ...');
  const { values } = parse(rest, {
    ...BACKEND_OPTIONS,
    ...JSON_OPTION,
    name: { type: 'string' },
    price: { type: 'string' },
    currency: { type: 'string', default: 'CNY' },
    'off-sale': { type: 'boolean', default: false },
  });
  const currency = values.currency.toUpperCase();
  if (!isCurrency(currency)) throw new UsageError('--currency must be an ISO 4217 code such as CNY or USD');
  const amount = parseMajorUnits(requireString(values.price, '--price <amount, e.g. 50.00>'), currency);
  if (amount === null) throw new UsageError(`--price must be an amount in ${currency} such as 50 or 50.00`);
  const name = requireString(values.name, '--name');
  const shop = await openBackend(values);
  try {
    const product = await shop.createProduct({
      name,
      price: { amount, currency },
      onSale: !values['off-sale'],
    });
    if (values.json) printJson(io, { product });
    else io.out(`created ${product.id} ${product.name}`);
    return 0;
  } finally {
    await shop.close();
  }
}
