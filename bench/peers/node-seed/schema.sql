-- The peer's tables: the seed's shape, reduced to what the order -> offer job touches.
-- The benchmark's set-up script runs this file too, before it seeds users and masters.
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  name TEXT NOT NULL,
  phone TEXT,
  role TEXT NOT NULL CHECK (role IN ('client', 'master', 'admin')),
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS masters (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL UNIQUE REFERENCES users (id),
  specializations TEXT NOT NULL DEFAULT '[]',
  on_shift INTEGER NOT NULL DEFAULT 0,
  lat REAL,
  lon REAL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
  id INTEGER PRIMARY KEY,
  client_id INTEGER NOT NULL REFERENCES users (id),
  master_id INTEGER REFERENCES masters (id),
  status TEXT NOT NULL,
  appliance_type TEXT NOT NULL,
  problem TEXT NOT NULL,
  address TEXT NOT NULL,
  lat REAL,
  lon REAL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_orders_client ON orders (client_id);
CREATE TABLE IF NOT EXISTS assignments (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders (id),
  master_id INTEGER NOT NULL REFERENCES masters (id),
  status TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  resolved_at TEXT
);
CREATE INDEX IF NOT EXISTS ix_assignments_order ON assignments (order_id, status);
CREATE INDEX IF NOT EXISTS ix_assignments_master ON assignments (master_id, status);
