// The database: users and the failure ledger user_notify, on SQLite (better-sqlite3) or
// MySQL/MariaDB (mysql2), chosen by DATABASE_URL. Migrations create the tables at start.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Sqlite from 'better-sqlite3';
import mysql from 'mysql2/promise';

export interface User {
  id: number;
  email: string;
  name: string;
  created_at: string;
}

/** One row of the failure ledger: how often mailing the user failed, and whether we gave up. */
export interface LedgerRow {
  user_id: number;
  notifynum: number;
  isdone: number;
  updatetime: string;
}

export interface Db {
  readonly kind: 'sqlite' | 'mysql';
  migrate(): Promise<void>;
  createUser(email: string, name: string): Promise<number>;
  getUser(id: number): Promise<User | undefined>;
  /** Undoes a registration whose message the broker did not take. */
  deleteUser(id: number): Promise<void>;
  getLedger(userId: number): Promise<LedgerRow | undefined>;
  /** The one atomic upsert per failed send (the seed's statement), then the row as it now is. */
  recordFailure(userId: number): Promise<LedgerRow>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/*
 * The seed's upsert, for a limit of 5:
 *   insert into user_notify(user_id,updatetime) values(1234,now()) ON DUPLICATE KEY UPDATE
 *     notifynum=IF(isdone=1,notifynum,notifynum+1),
 *     isdone=IF(notifynum=5,1,0),
 *     updatetime=IF(isdone=1,updatetime,now())
 * MySQL and MariaDB evaluate these assignments left to right, each seeing the columns already
 * assigned: isdone tests the NEW notifynum, updatetime tests the NEW isdone. So: count up
 * unless done; done when the count reaches the limit; the time moves only while the row stays
 * open (the failure that closes it, and any later one, leave updatetime as it was); a done
 * row is left unchanged. The only addition: the first insert is already done when the limit
 * is 1 (the seed's insert never checks the limit, which with a limit of 1 would never close).
 */
const MYSQL_UPSERT = `INSERT INTO user_notify (user_id, isdone, updatetime) VALUES (?, ?, NOW(3))
  ON DUPLICATE KEY UPDATE
    notifynum = IF(isdone = 1, notifynum, notifynum + 1),
    isdone = IF(notifynum = ?, 1, 0),
    updatetime = IF(isdone = 1, updatetime, NOW(3))`;

/*
 * SQLite evaluates every SET expression against the OLD row, so the MySQL order of effects is
 * spelled out: NEW_NUM is the new notifynum, and updatetime tests the new isdone.
 */
const NEW_NUM = 'CASE WHEN isdone = 1 THEN notifynum ELSE notifynum + 1 END';
const SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now')";
const SQLITE_UPSERT = `INSERT INTO user_notify (user_id, isdone, updatetime) VALUES (?, ?, ${SQLITE_NOW})
  ON CONFLICT (user_id) DO UPDATE SET
    notifynum = ${NEW_NUM},
    isdone = CASE WHEN ${NEW_NUM} = ? THEN 1 ELSE 0 END,
    updatetime = CASE WHEN (CASE WHEN ${NEW_NUM} = ? THEN 1 ELSE 0 END) = 1 THEN updatetime ELSE ${SQLITE_NOW} END`;

/** Migrations by version; each runs once per database (recorded in schema_migrations). */
const SQLITE_MIGRATIONS: string[][] = [
  [`CREATE TABLE IF NOT EXISTS users (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      email TEXT NOT NULL,
      name TEXT NOT NULL,
      created_at TEXT NOT NULL DEFAULT (${SQLITE_NOW}))`,
   `CREATE TABLE IF NOT EXISTS user_notify (
      user_id INTEGER PRIMARY KEY,
      notifynum INTEGER NOT NULL DEFAULT 1,
      isdone INTEGER NOT NULL DEFAULT 0,
      updatetime TEXT NOT NULL)`],
];
const MYSQL_MIGRATIONS: string[][] = [
  [`CREATE TABLE IF NOT EXISTS users (
      id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      email VARCHAR(320) NOT NULL,
      name VARCHAR(200) NOT NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))`,
   `CREATE TABLE IF NOT EXISTS user_notify (
      user_id BIGINT NOT NULL PRIMARY KEY,
      notifynum INT NOT NULL DEFAULT 1,
      isdone TINYINT NOT NULL DEFAULT 0,
      updatetime DATETIME(3) NOT NULL)`],
];

class SqliteDb implements Db {
  readonly kind = 'sqlite';
  private readonly db: Sqlite.Database;

  constructor(file: string, private readonly limit: number) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new Sqlite(file, { timeout: 10_000 }); // several processes share the file
    this.db.pragma('journal_mode = WAL');
  }

  async migrate(): Promise<void> {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)');
    const apply = this.db.transaction((version: number, statements: string[]) => {
      if (this.db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(version)) return;
      for (const s of statements) this.db.exec(s);
      this.db.prepare('INSERT INTO schema_migrations (version) VALUES (?)').run(version);
    });
    SQLITE_MIGRATIONS.forEach((statements, i) => apply.immediate(i + 1, statements));
  }

  async createUser(email: string, name: string): Promise<number> {
    return Number(this.db.prepare('INSERT INTO users (email, name) VALUES (?, ?)').run(email, name).lastInsertRowid);
  }

  async getUser(id: number): Promise<User | undefined> {
    return this.db.prepare('SELECT id, email, name, created_at FROM users WHERE id = ?').get(id) as User | undefined;
  }

  async deleteUser(id: number): Promise<void> {
    this.db.prepare('DELETE FROM users WHERE id = ?').run(id);
  }

  async getLedger(userId: number): Promise<LedgerRow | undefined> {
    return this.db.prepare('SELECT user_id, notifynum, isdone, updatetime FROM user_notify WHERE user_id = ?')
      .get(userId) as LedgerRow | undefined;
  }

  async recordFailure(userId: number): Promise<LedgerRow> {
    return this.db.prepare(`${SQLITE_UPSERT} RETURNING user_id, notifynum, isdone, updatetime`)
      .get(userId, this.limit <= 1 ? 1 : 0, this.limit, this.limit) as LedgerRow;
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

class MysqlDb implements Db {
  readonly kind = 'mysql';
  private readonly pool: mysql.Pool;

  constructor(url: string, private readonly limit: number) {
    // dateStrings: times come back as 'YYYY-MM-DD HH:MM:SS.mmm', as SQLite keeps them
    this.pool = mysql.createPool({ uri: url, connectionLimit: 4, dateStrings: true, connectTimeout: 5000 });
  }

  async migrate(): Promise<void> {
    const conn = await this.pool.getConnection();
    try {
      // a named lock so that the service and workers starting together migrate one at a time
      await conn.query("SELECT GET_LOCK('user_notify_migrations', 30)");
      await conn.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INT NOT NULL PRIMARY KEY)');
      for (const [i, statements] of MYSQL_MIGRATIONS.entries()) {
        const [done] = await conn.query<mysql.RowDataPacket[]>('SELECT 1 FROM schema_migrations WHERE version = ?', [i + 1]);
        if (done.length) continue;
        for (const s of statements) await conn.query(s); // DDL commits implicitly in MySQL anyway
        await conn.query('INSERT INTO schema_migrations (version) VALUES (?)', [i + 1]);
      }
    } finally {
      await conn.query("SELECT RELEASE_LOCK('user_notify_migrations')").catch(() => undefined);
      conn.release();
    }
  }

  async createUser(email: string, name: string): Promise<number> {
    const [r] = await this.pool.execute<mysql.ResultSetHeader>('INSERT INTO users (email, name) VALUES (?, ?)', [email, name]);
    return Number(r.insertId);
  }

  async getUser(id: number): Promise<User | undefined> {
    const [rows] = await this.pool.execute<mysql.RowDataPacket[]>('SELECT id, email, name, created_at FROM users WHERE id = ?', [id]);
    return rows[0] ? { ...(rows[0] as User), id: Number(rows[0].id) } : undefined;
  }

  async deleteUser(id: number): Promise<void> {
    await this.pool.execute('DELETE FROM users WHERE id = ?', [id]);
  }

  async getLedger(userId: number): Promise<LedgerRow | undefined> {
    const [rows] = await this.pool.execute<mysql.RowDataPacket[]>(
      'SELECT user_id, notifynum, isdone, updatetime FROM user_notify WHERE user_id = ?', [userId]);
    const r = rows[0];
    return r ? { user_id: Number(r.user_id), notifynum: Number(r.notifynum), isdone: Number(r.isdone), updatetime: String(r.updatetime) } : undefined;
  }

  async recordFailure(userId: number): Promise<LedgerRow> {
    await this.pool.execute(MYSQL_UPSERT, [userId, this.limit <= 1 ? 1 : 0, this.limit]);
    const row = await this.getLedger(userId); // no RETURNING on MySQL; the row is ours alone (one message per user)
    if (!row) throw new Error(`user_notify row for ${userId} vanished`);
    return row;
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Opens the database DATABASE_URL names: sqlite:/path/file or mysql://user:pass@host/db. */
export function openDb(url: string, maxAttempts: number): Db {
  if (url.startsWith('mysql://') || url.startsWith('mariadb://')) return new MysqlDb(url.replace(/^mariadb:/, 'mysql:'), maxAttempts);
  if (url.startsWith('sqlite:')) return new SqliteDb(url.slice('sqlite:'.length), maxAttempts);
  throw new Error(`DATABASE_URL must be sqlite:<file> or mysql://..., got ${JSON.stringify(url)}`);
}
