/**
 * The article's own code, as the Chinese original prints it (seed 000_5b067ced6d4795a7.txt), and the two
 * small Redis scripts of the distributed lock. Kept in one place so a test can hold them against the
 * article's text: the simulator runs these strings, not paraphrases.
 */

/**
 * Layer 1, "数据库锁机制": the four statements word for word; the original's line breaks (and their
 * trailing spaces) are folded into single spaces, and its `item_id = 123` is the scenario's item, bound
 * as `$1`. The comment line between SELECT and UPDATE (检查库存并减少库存) is left out.
 */
export const LAYER1 = {
  begin: 'BEGIN TRANSACTION',
  select: 'SELECT * FROM virtual_items WHERE item_id = $1 AND stock > 0 FOR UPDATE',
  update: 'UPDATE virtual_items SET stock = stock - 1 WHERE item_id = $1 AND stock > 0',
  commit: 'COMMIT',
} as const;

/**
 * Layer 2, "Redis原子操作": the script inside the original's `safe_decrease_stock`, line for line (its
 * four-space indentation inside the Python string dropped), run with EVAL on `item_stock:<item>`.
 *
 * The original then returns `result > 0`, which calls the sale of the last unit (DECR answers 0) a
 * failure; here -1, the script's own "no stock", is the only refusal.
 */
export const LAYER2_LUA = `local stock = redis.call('get', KEYS[1])
if stock and tonumber(stock) > 0 then
    return redis.call('decr', KEYS[1])
else
    return -1
end`;

/** The original's key: `f"item_stock:{item_id}"`. */
export function itemStockKey(prefix: string, itemId: number): string {
  return `${prefix}item_stock:${itemId}`;
}

/**
 * Layer 3, "分布式锁控制", which the article describes without code: SET key owner NX PX ttl takes it;
 * this compare-and-delete releases it only for its owner, so a buyer whose lock expired (and was taken
 * by another) cannot release the other's.
 */
export const LOCK_RELEASE_LUA = `if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
else
    return 0
end`;
