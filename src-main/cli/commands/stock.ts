/** `oncekey stock`: available, reserved and sold per product, from the SQLite file or PostgreSQL. */
import { formatMajorUnits } from '../../../shared/money';
import { JSON_OPTION, parse, printJson, table, type Io } from '../context';
import { BACKEND_OPTIONS, openBackend } from '../open-backend';

export async function stockCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parse(argv, { ...BACKEND_OPTIONS, ...JSON_OPTION });
  const shop = await openBackend(values);
  try {
    const products = await shop.listProducts();
    if (values.json) {
      printJson(io, {
        products: products.map((p) => ({ id: p.id, name: p.name, price: p.price, onSale: p.onSale, stock: p.stock })),
      });
    } else if (products.length === 0) {
      io.out('no products yet: create one with `oncekey product create --name ... --price ... --currency ...`');
    } else {
      io.out(
        table(
          ['product', 'name', 'price', 'on sale', 'available', 'reserved', 'sold'],
          products.map((p) => [
            p.id,
            p.name,
            `${formatMajorUnits(p.price)} ${p.price.currency}`,
            p.onSale ? 'yes' : 'no',
            p.stock.available,
            p.stock.reserved,
            p.stock.sold,
          ]),
        ),
      );
    }
    return 0;
  } finally {
    await shop.close();
  }
}
