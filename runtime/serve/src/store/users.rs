//! People, their role, and how they prove who they are: API tokens
//! (stored as SHA-256 digests), a dashboard password (an argon2 hash) and
//! dashboard sessions (stored as digests, each with its CSRF token).

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{Result, StoreError, now_text};

/// What a person may do. Each role may do what the roles before it may,
/// except that approving is the approver's and the admin's alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Reads everything: tenants, plugins, schedules, runs, plans, audit.
    Viewer,
    /// Also starts runs and what-if runs, and cancels runs.
    Operator,
    /// Also approves or rejects plans (never their own).
    Approver,
    /// Also manages schedules, plugins, trust, tenants and users.
    Admin,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "approver" => Some(Role::Approver),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct UserRow {
    pub name: String,
    pub role: Role,
    pub created_at: String,
    pub disabled: bool,
    #[serde(skip)]
    pub password_hash: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TokenRow {
    pub id: String,
    pub user: String,
    pub label: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// How a request proved who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    Token { id: String },
    Session { csrf: String },
}

#[derive(Clone, Debug)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    pub expires_at: String,
}

fn user_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    let role: String = row.get(1)?;
    Ok(UserRow {
        name: row.get(0)?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        password_hash: row.get(2)?,
        created_at: row.get(3)?,
        disabled: row.get::<_, i64>(4)? != 0,
    })
}

pub fn get_user(conn: &Connection, name: &str) -> Result<Option<UserRow>> {
    Ok(conn
        .query_row(
            "SELECT name, role, password_hash, created_at, disabled FROM users WHERE name = ?1",
            [name],
            user_from,
        )
        .optional()?)
}

pub fn list_users(conn: &Connection) -> Result<Vec<UserRow>> {
    let mut stmt = conn.prepare(
        "SELECT name, role, password_hash, created_at, disabled FROM users ORDER BY name",
    )?;
    let rows = stmt.query_map([], user_from)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Adds a user, or changes an existing user's role and password.
pub fn put_user(
    conn: &Connection,
    name: &str,
    role: Role,
    password_hash: Option<&str>,
) -> Result<()> {
    conn.execute(
        "INSERT INTO users (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(name) DO UPDATE SET role = excluded.role,
             password_hash = COALESCE(excluded.password_hash, users.password_hash),
             disabled = 0",
        params![name, role.as_str(), password_hash, now_text()],
    )?;
    Ok(())
}

/// Disables a user and revokes their tokens and sessions at once.
pub fn disable_user(conn: &mut Connection, name: &str) -> Result<()> {
    let tx = conn.transaction()?;
    let changed = tx.execute("UPDATE users SET disabled = 1 WHERE name = ?1", [name])?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("there is no user '{name}'")));
    }
    tx.execute(
        "UPDATE api_tokens SET revoked_at = ?2 WHERE user = ?1 AND revoked_at IS NULL",
        params![name, now_text()],
    )?;
    tx.execute("DELETE FROM sessions WHERE user = ?1", [name])?;
    tx.commit()?;
    Ok(())
}

pub fn add_token(
    conn: &Connection,
    user: &str,
    sha256: &str,
    label: &str,
    expires_at: Option<&str>,
) -> Result<String> {
    let id = uuid::Uuid::new_v4().to_string();
    conn.execute(
        "INSERT INTO api_tokens (id, user, sha256, label, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, user, sha256, label, now_text(), expires_at],
    )?;
    Ok(id)
}

pub fn revoke_token(conn: &Connection, id: &str) -> Result<()> {
    let changed = conn.execute(
        "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, now_text()],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!(
            "there is no live API token with id '{id}'"
        )));
    }
    Ok(())
}

/// Why a token does not sign in, for the refusal's message.
#[derive(Debug)]
pub enum TokenCheck {
    Valid { user: UserRow, token_id: String },
    Unknown,
    Revoked,
    Expired,
    UserDisabled,
}

pub fn check_token(conn: &Connection, sha256: &str, now: &str) -> Result<TokenCheck> {
    let row = conn
        .query_row(
            "SELECT id, user, expires_at, revoked_at FROM api_tokens WHERE sha256 = ?1",
            [sha256],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            },
        )
        .optional()?;
    let Some((id, user, expires, revoked)) = row else {
        return Ok(TokenCheck::Unknown);
    };
    if revoked.is_some() {
        return Ok(TokenCheck::Revoked);
    }
    if expires.is_some_and(|e| e.as_str() <= now) {
        return Ok(TokenCheck::Expired);
    }
    match get_user(conn, &user)? {
        Some(user) if !user.disabled => Ok(TokenCheck::Valid { user, token_id: id }),
        _ => Ok(TokenCheck::UserDisabled),
    }
}

pub fn list_tokens(conn: &Connection, user: Option<&str>) -> Result<Vec<TokenRow>> {
    let mut stmt = conn.prepare(
        "SELECT id, user, label, created_at, expires_at, revoked_at FROM api_tokens
         WHERE ?1 IS NULL OR user = ?1 ORDER BY created_at",
    )?;
    let rows = stmt.query_map([user], |r| {
        Ok(TokenRow {
            id: r.get(0)?,
            user: r.get(1)?,
            label: r.get(2)?,
            created_at: r.get(3)?,
            expires_at: r.get(4)?,
            revoked_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn add_session(
    conn: &Connection,
    sha256: &str,
    user: &str,
    csrf: &str,
    expires_at: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO sessions (sha256, user, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![sha256, user, csrf, now_text(), expires_at],
    )?;
    Ok(())
}

pub fn get_session(
    conn: &Connection,
    sha256: &str,
    now: &str,
) -> Result<Option<(Session, UserRow)>> {
    let row = conn
        .query_row(
            "SELECT user, csrf, expires_at FROM sessions WHERE sha256 = ?1 AND expires_at > ?2",
            params![sha256, now],
            |r| {
                Ok(Session {
                    user: r.get(0)?,
                    csrf: r.get(1)?,
                    expires_at: r.get(2)?,
                })
            },
        )
        .optional()?;
    let Some(session) = row else {
        return Ok(None);
    };
    match get_user(conn, &session.user)? {
        Some(user) if !user.disabled => Ok(Some((session, user))),
        _ => Ok(None),
    }
}

pub fn delete_session(conn: &Connection, sha256: &str) -> Result<()> {
    conn.execute("DELETE FROM sessions WHERE sha256 = ?1", [sha256])?;
    Ok(())
}
