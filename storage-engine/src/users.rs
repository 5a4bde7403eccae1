//! The users the server accepts requests from, besides its administrator: access key, secret and
//! the owner fields S3 returns.
//!
//! Invariant: names, access keys, canonical ids and account ids are each unique (the table's
//! constraints say so, so two writers cannot both add the same one). Secrets are stored as given:
//! SigV4 needs the secret itself; the database file is readable by its owner only.

use rusqlite::{params, Connection};

use crate::engine::Store;
use crate::error::{Error, Result};
use crate::meta::codec::now_ms;

/// A user as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    /// The name policies use in `arn:aws:iam::ACCOUNT:user/NAME`.
    pub name: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// S3's canonical user id (the Owner ID of listings and ACLs).
    pub canonical_id: String,
    /// The 12-digit account id of the user's ARN.
    pub account_id: String,
    /// The Owner DisplayName.
    pub display_name: String,
    /// The email address ACL grants by email resolve to.
    pub email: String,
    /// When it was added, ms since the epoch.
    pub created_ms: i64,
}

const COLUMNS: &str =
    "name, access_key, secret_key, canonical_id, account_id, display_name, email, created_ms";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        name: r.get(0)?,
        access_key: r.get(1)?,
        secret_key: r.get(2)?,
        canonical_id: r.get(3)?,
        account_id: r.get(4)?,
        display_name: r.get(5)?,
        email: r.get(6)?,
        created_ms: r.get(7)?,
    })
}

/// Which unique field of `user` another user already has, if any (emails compared without
/// case, as grants look them up).
fn clash(conn: &Connection, user: &UserRecord) -> Result<Option<&'static str>> {
    let fields: [(&'static str, &'static str, &str); 5] = [
        ("name", "name = ?1", &user.name),
        ("access key", "access_key = ?1", &user.access_key),
        ("canonical id", "canonical_id = ?1", &user.canonical_id),
        ("account id", "account_id = ?1", &user.account_id),
        ("email", "lower(email) = lower(?1)", &user.email),
    ];
    for (field, condition, value) in fields {
        if field == "email" && value.is_empty() {
            continue;
        }
        let taken = conn
            .prepare_cached(&format!("SELECT 1 FROM users WHERE {condition}"))?
            .exists([value])?;
        if taken {
            return Ok(Some(field));
        }
    }
    Ok(None)
}

impl Store {
    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<UserRecord>> {
        self.inner.readers.with(|conn| {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT {COLUMNS} FROM users ORDER BY name"))?;
            let rows = stmt.query_map([], from_row)?;
            rows.map(|r| r.map_err(Error::from)).collect()
        })
    }

    /// Adds a user; `Conflict` naming the field when another user has the same name, access key,
    /// canonical id, account id or email. `created_ms` is set here.
    pub fn add_user(&self, user: UserRecord) -> Result<UserRecord> {
        self.write_user(user, false)
    }

    /// Adds a user in place of any user of the same name, in one transaction (a failure leaves
    /// the old one): `Conflict` when another user has one of its unique fields.
    pub fn replace_user(&self, user: UserRecord) -> Result<UserRecord> {
        self.write_user(user, true)
    }

    fn write_user(&self, user: UserRecord, replace: bool) -> Result<UserRecord> {
        self.inner.writer.write(move |conn| {
            if replace {
                conn.execute("DELETE FROM users WHERE name = ?1", [&user.name])?;
            }
            if let Some(field) = clash(conn, &user)? {
                return Err(Error::Conflict(format!("a user with this {field} exists")));
            }
            let user = UserRecord {
                created_ms: now_ms(),
                ..user
            };
            conn.execute(
                &format!("INSERT INTO users({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    user.name,
                    user.access_key,
                    user.secret_key,
                    user.canonical_id,
                    user.account_id,
                    user.display_name,
                    user.email,
                    user.created_ms
                ],
            )?;
            Ok((user, Vec::new()))
        })
    }

    /// Removes a user by name; false when there was none. Its buckets keep its canonical id as
    /// their owner (S3 keeps a closed account's buckets too).
    pub fn remove_user(&self, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.inner.writer.write(move |conn| {
            let n = conn.execute("DELETE FROM users WHERE name = ?1", [&name])?;
            Ok((n > 0, Vec::new()))
        })
    }
}
