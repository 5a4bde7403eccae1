//! Who may sign requests: the administrator (the STRATA_ACCESS_KEY pair) and the users kept by the
//! storage engine, looked up by access key, name, canonical id and email.
//!
//! Invariant: every lookup sees one consistent snapshot of the users; a change made through the
//! admin endpoint is committed by the engine first and then replaces the snapshot, so a request
//! never authenticates as a user the database does not hold. Secrets are zeroized when a snapshot
//! is dropped and never appear in `Debug` output.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use strata_access::{Owner, Principal, Requester};
use strata_storage::UserRecord;
use zeroize::Zeroizing;

/// The administrator's user name, in its ARN `arn:aws:iam::000000000000:user/admin`.
pub const ADMIN_NAME: &str = "admin";
/// The administrator's account id (the one local AWS emulators use).
pub const ADMIN_ACCOUNT: &str = "000000000000";

/// One identity a request can be signed by.
pub struct Identity {
    /// User name.
    pub name: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: Zeroizing<String>,
    /// Canonical user id.
    pub canonical_id: String,
    /// 12-digit account id.
    pub account_id: String,
    /// Owner DisplayName.
    pub display_name: String,
    /// Email address (may be empty).
    pub email: String,
    /// Whether this is the administrator (the only identity the admin endpoint accepts).
    pub admin: bool,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("name", &self.name)
            .field("access_key", &self.access_key)
            .field("canonical_id", &self.canonical_id)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The principal policies are matched against.
    pub fn principal(&self) -> Principal {
        Principal {
            name: self.name.clone(),
            account_id: self.account_id.clone(),
            canonical_id: self.canonical_id.clone(),
        }
    }

    /// This identity as an owner.
    pub fn owner(&self) -> Owner {
        Owner {
            canonical_id: self.canonical_id.clone(),
            account_id: self.account_id.clone(),
        }
    }

    /// The owner value the engine stores for a bucket this identity creates ('' for the
    /// administrator, so that its buckets stay its own when its keys change).
    pub fn stored_owner(&self) -> String {
        if self.admin {
            String::new()
        } else {
            self.canonical_id.clone()
        }
    }

    fn from_record(r: UserRecord) -> Self {
        Self {
            name: r.name,
            access_key: r.access_key,
            secret_key: Zeroizing::new(r.secret_key),
            canonical_id: r.canonical_id,
            account_id: r.account_id,
            display_name: r.display_name,
            email: r.email,
            admin: false,
        }
    }
}

/// The requester of a request: its identity, if signed.
pub fn requester(identity: Option<&Identity>) -> Requester {
    match identity {
        Some(i) => Requester::User(i.principal()),
        None => Requester::Anonymous,
    }
}

/// The administrator's canonical id: fixed, so that listings and ACLs written by one server read
/// the same on the next, whatever the administrator's keys.
pub const ADMIN_CANONICAL_ID: &str =
    "5a8a5b5c0d2f4c1e9b7e3a6d1f0c8b2a4e6d8f0a1c3e5b7d9f1a3c5e7b9d1f3a";

/// The administrator's identity for a key pair.
pub fn admin_identity(access_key: &str, secret_key: &str) -> Identity {
    Identity {
        name: ADMIN_NAME.to_owned(),
        access_key: access_key.to_owned(),
        secret_key: Zeroizing::new(secret_key.to_owned()),
        canonical_id: ADMIN_CANONICAL_ID.to_owned(),
        account_id: ADMIN_ACCOUNT.to_owned(),
        display_name: ADMIN_NAME.to_owned(),
        email: String::new(),
        admin: true,
    }
}

#[derive(Default)]
struct Snapshot {
    by_key: HashMap<String, Arc<Identity>>,
    by_name: HashMap<String, Arc<Identity>>,
    by_canonical: HashMap<String, Arc<Identity>>,
    by_email: HashMap<String, Arc<Identity>>,
}

impl Snapshot {
    fn build(admin: &Arc<Identity>, records: Vec<UserRecord>) -> Self {
        let mut s = Self::default();
        for identity in std::iter::once(admin.clone()).chain(
            records
                .into_iter()
                .map(|r| Arc::new(Identity::from_record(r))),
        ) {
            s.by_key
                .insert(identity.access_key.clone(), identity.clone());
            s.by_name.insert(identity.name.clone(), identity.clone());
            s.by_canonical
                .insert(identity.canonical_id.clone(), identity.clone());
            if !identity.email.is_empty() {
                s.by_email
                    .insert(identity.email.to_ascii_lowercase(), identity.clone());
            }
        }
        s
    }
}

/// The administrator and the engine's users.
pub struct UserDirectory {
    admin: Arc<Identity>,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl UserDirectory {
    /// A directory of the administrator and `records`.
    pub fn new(admin: Identity, records: Vec<UserRecord>) -> Self {
        let admin = Arc::new(admin);
        let snapshot = RwLock::new(Arc::new(Snapshot::build(&admin, records)));
        Self { admin, snapshot }
    }

    /// Replaces the users (after the engine committed a change).
    pub fn reload(&self, records: Vec<UserRecord>) {
        let next = Arc::new(Snapshot::build(&self.admin, records));
        match self.snapshot.write() {
            Ok(mut guard) => *guard = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }

    fn current(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The identity an access key belongs to.
    pub fn by_access_key(&self, access_key: &str) -> Option<Arc<Identity>> {
        self.current().by_key.get(access_key).cloned()
    }

    /// The administrator's identity.
    pub fn admin(&self) -> Arc<Identity> {
        self.admin.clone()
    }

    /// The identity of a user name.
    pub fn by_name(&self, name: &str) -> Option<Arc<Identity>> {
        self.current().by_name.get(name).cloned()
    }

    /// The identity with an email address (case-insensitive).
    pub fn by_email(&self, email: &str) -> Option<Arc<Identity>> {
        self.current()
            .by_email
            .get(&email.to_ascii_lowercase())
            .cloned()
    }

    /// The identity of a stored owner ('' is the administrator); None for a removed user.
    pub fn by_stored_owner(&self, owner: &str) -> Option<Arc<Identity>> {
        if owner.is_empty() {
            return Some(self.admin.clone());
        }
        self.current().by_canonical.get(owner).cloned()
    }

    /// The owner a stored owner value stands for (a removed user keeps its canonical id; its
    /// account id is then unknown and matches no one).
    pub fn owner_of(&self, stored: &str) -> Owner {
        match self.by_stored_owner(stored) {
            Some(i) => i.owner(),
            None => Owner {
                canonical_id: stored.to_owned(),
                account_id: String::new(),
            },
        }
    }

    /// The display name S3 shows beside a canonical id ('' when unknown).
    pub fn display_name(&self, canonical_id: &str) -> String {
        self.current()
            .by_canonical
            .get(canonical_id)
            .map(|i| i.display_name.clone())
            .unwrap_or_default()
    }

    /// Every identity, the administrator first, then by name.
    pub fn list(&self) -> Vec<Arc<Identity>> {
        let snapshot = self.current();
        let mut users: Vec<_> = snapshot
            .by_name
            .values()
            .filter(|i| !i.admin)
            .cloned()
            .collect();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        std::iter::once(self.admin.clone()).chain(users).collect()
    }
}

/// A user as given to `strata serve --users FILE` or `POST /_strata/users`: every field but the
/// name may be left out and is then generated.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// User name: 1 to 64 characters of letters, digits and `+=,.@_-` (IAM's rule).
    pub name: String,
    /// Access key id (16 to 128 characters of letters and digits).
    pub access_key: Option<String>,
    /// Secret key (at least 8 characters).
    pub secret_key: Option<String>,
    /// Canonical user id (64 lower-case hex digits).
    pub canonical_id: Option<String>,
    /// Account id (12 digits).
    pub account_id: Option<String>,
    /// Display name (defaults to the name).
    pub display_name: Option<String>,
    /// Email address.
    pub email: Option<String>,
}

/// The `--users FILE` document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    /// The users to create (or, when one of the name exists, to replace).
    pub users: Vec<UserSpec>,
}

/// A user as the admin endpoint lists it (no secret).
#[derive(Debug, Serialize)]
pub struct UserView {
    /// Name.
    pub name: String,
    /// Access key id.
    pub access_key: String,
    /// Canonical user id.
    pub canonical_id: String,
    /// Account id.
    pub account_id: String,
    /// ARN for policies.
    pub arn: String,
    /// Display name.
    pub display_name: String,
    /// Email.
    pub email: String,
    /// Whether this is the administrator.
    pub admin: bool,
}

impl From<&Identity> for UserView {
    fn from(i: &Identity) -> Self {
        Self {
            name: i.name.clone(),
            access_key: i.access_key.clone(),
            canonical_id: i.canonical_id.clone(),
            account_id: i.account_id.clone(),
            arn: i.principal().arn(),
            display_name: i.display_name.clone(),
            email: i.email.clone(),
            admin: i.admin,
        }
    }
}

fn random_from(alphabet: &[u8], len: usize) -> String {
    use rand::Rng as _;
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

/// Validates a spec and fills in what it leaves out. Errors are for the client.
pub fn complete(spec: UserSpec) -> Result<UserRecord, String> {
    const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let name_ok = (1..=64).contains(&spec.name.len())
        && spec
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if !name_ok || spec.name == ADMIN_NAME {
        return Err(format!(
            "invalid user name {:?}: 1 to 64 letters, digits or +=,.@_- (and not {ADMIN_NAME:?})",
            spec.name
        ));
    }
    let access_key = match spec.access_key {
        Some(k)
            if (16..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            k
        }
        Some(_) => {
            return Err("an access key has 16 to 128 letters and digits".into());
        }
        None => format!("AKIA{}", random_from(UPPER_DIGITS, 16)),
    };
    let secret_key = match spec.secret_key {
        Some(s) if s.len() >= 8 && s.bytes().all(|b| b.is_ascii_graphic()) => s,
        Some(_) => return Err("a secret key has at least 8 visible ASCII characters".into()),
        None => random_from(SECRET, 40),
    };
    let canonical_id = match spec.canonical_id {
        Some(c) if c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()) => {
            c.to_ascii_lowercase()
        }
        Some(_) => return Err("a canonical id is 64 hex digits".into()),
        None => random_from(b"0123456789abcdef", 64),
    };
    if canonical_id == ADMIN_CANONICAL_ID {
        return Err("that canonical id is the administrator's".into());
    }
    let account_id = match spec.account_id {
        Some(a) if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) => a,
        Some(_) => return Err("an account id is 12 digits".into()),
        None => format!(
            "{}{}",
            random_from(b"123456789", 1),
            random_from(b"0123456789", 11)
        ),
    };
    if account_id == ADMIN_ACCOUNT {
        return Err("that account id is the administrator's".into());
    }
    let email = spec.email.unwrap_or_default().to_ascii_lowercase();
    if !email.is_empty() && !email.contains('@') {
        return Err(format!("invalid email address {email:?}"));
    }
    Ok(UserRecord {
        display_name: spec.display_name.unwrap_or_else(|| spec.name.clone()),
        name: spec.name,
        access_key,
        secret_key,
        canonical_id,
        account_id,
        email,
        created_ms: 0,
    })
}

/// Refuses a user whose access key is the administrator's (it would take over the key).
pub fn not_the_administrators(r: UserRecord, admin_access_key: &str) -> Result<UserRecord, String> {
    if r.access_key == admin_access_key {
        return Err(format!(
            "user {}: that access key is the administrator's",
            r.name
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_fields_have_s3_shapes() {
        let r = complete(UserSpec {
            name: "alice".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.access_key.len(), 20);
        assert!(r.access_key.starts_with("AKIA"));
        assert_eq!(r.secret_key.len(), 40);
        assert_eq!(r.canonical_id.len(), 64);
        assert!(r.account_id.len() == 12 && !r.account_id.starts_with('0'));
        assert_eq!(r.display_name, "alice");
    }

    // Review of issue 15: a user could be given the administrator's access key.
    #[test]
    fn the_administrators_access_key_is_refused() {
        let spec = |key: &str| UserSpec {
            name: "eve".into(),
            access_key: Some(key.into()),
            ..Default::default()
        };
        let admin = "ADMINACCESSKEY000001";
        let taken = complete(spec(admin)).and_then(|r| not_the_administrators(r, admin));
        assert!(taken.unwrap_err().contains("administrator"));
        let own =
            complete(spec("EVEACCESSKEY00000001")).and_then(|r| not_the_administrators(r, admin));
        assert_eq!(own.unwrap().access_key, "EVEACCESSKEY00000001");
    }

    #[test]
    fn bad_specs_are_refused() {
        for spec in [
            UserSpec {
                name: "admin".into(),
                ..Default::default()
            },
            UserSpec {
                name: "a b".into(),
                ..Default::default()
            },
            UserSpec {
                name: "bob".into(),
                account_id: Some("12".into()),
                ..Default::default()
            },
            UserSpec {
                name: "bob".into(),
                canonical_id: Some("xyz".into()),
                ..Default::default()
            },
            UserSpec {
                name: "bob".into(),
                access_key: Some("short".into()),
                ..Default::default()
            },
        ] {
            assert!(complete(spec).is_err());
        }
    }

    #[test]
    fn lookups_see_the_admin_and_the_users() {
        let alice = complete(UserSpec {
            name: "alice".into(),
            email: Some("Alice@example.com".into()),
            ..Default::default()
        })
        .unwrap();
        let dir = UserDirectory::new(admin_identity("AK", "SK"), vec![alice.clone()]);
        assert!(dir.by_access_key("AK").unwrap().admin);
        assert_eq!(dir.by_access_key(&alice.access_key).unwrap().name, "alice");
        assert_eq!(dir.by_email("alice@EXAMPLE.com").unwrap().name, "alice");
        assert!(dir.by_stored_owner("").unwrap().admin);
        assert_eq!(dir.list().len(), 2);
        dir.reload(Vec::new());
        assert!(dir.by_access_key(&alice.access_key).is_none());
        assert_eq!(dir.owner_of(&alice.canonical_id).account_id, "");
    }
}
