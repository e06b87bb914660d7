//! Personal-information rights: consents to the privacy notice, account
//! closure (注销) and the anonymisation of closed accounts after retention.

use sqlx::AnyConnection;

use crate::error::{changed, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsentRow {
    pub id: i64,
    pub user_id: i64,
    pub notice_version: String,
    pub given_at: String,
    pub client_addr: String,
    pub withdrawn_at: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeletionRequestRow {
    pub id: i64,
    pub user_id: i64,
    pub requested_at: String,
    pub client_addr: String,
    pub reason: Option<String>,
    pub completed_at: Option<String>,
}

/// An account's closure and anonymisation times.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct AccountState {
    pub closed_at: Option<String>,
    pub anonymised_at: Option<String>,
}

/// Takes the registration lock until the caller's transaction ends (one
/// self-registration at a time decides whether an identity number is taken).
pub async fn lock_registrations(conn: &mut AnyConnection) -> Result<()> {
    changed(
        sqlx::query("UPDATE registration_lock SET registrations = registrations + 1 WHERE id = 1")
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}

/// Open (not closed) natural-person accounts with this identity-number blind index.
pub async fn open_person_accounts_with_id_number(
    conn: &mut AnyConnection,
    bidx: &str,
    except_user: Option<i64>,
) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM users WHERE id_number_bidx = $1 AND user_type = 'person' \
         AND closed_at IS NULL AND id <> $2",
    )
    .bind(bidx)
    .bind(except_user.unwrap_or(0))
    .fetch_one(&mut *conn)
    .await?;
    Ok(n)
}

pub async fn insert_consent(
    conn: &mut AnyConnection,
    user_id: i64,
    notice_version: &str,
    at: &str,
    client_addr: &str,
) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO consents (user_id, notice_version, given_at, client_addr) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(user_id)
    .bind(notice_version)
    .bind(at)
    .bind(client_addr)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// A user's consents, oldest first.
pub async fn consents(conn: &mut AnyConnection, user_id: i64) -> Result<Vec<ConsentRow>> {
    Ok(sqlx::query_as(
        "SELECT id, user_id, notice_version, given_at, client_addr, withdrawn_at FROM consents \
         WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Withdraws every consent of a user still in force. Returns how many.
pub async fn withdraw_consents(conn: &mut AnyConnection, user_id: i64, at: &str) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE consents SET withdrawn_at = $1 WHERE user_id = $2 AND withdrawn_at IS NULL",
    )
    .bind(at)
    .bind(user_id)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

pub async fn account_state(conn: &mut AnyConnection, user_id: i64) -> Result<AccountState> {
    Ok(
        sqlx::query_as("SELECT closed_at, anonymised_at FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or_default(),
    )
}

/// Closes an open account: inactive from now on. `Conflict` if it was closed already.
pub async fn close_account(conn: &mut AnyConnection, user_id: i64, at: &str) -> Result<()> {
    changed(
        sqlx::query(
            "UPDATE users SET active = 0, closed_at = $1, updated_at = $1 WHERE id = $2 AND closed_at IS NULL",
        )
        .bind(at)
        .bind(user_id)
        .execute(&mut *conn)
        .await?
        .rows_affected(),
    )
}

pub async fn insert_deletion_request(
    conn: &mut AnyConnection,
    user_id: i64,
    at: &str,
    client_addr: &str,
    reason: Option<&str>,
) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO deletion_requests (user_id, requested_at, client_addr, reason) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(user_id)
    .bind(at)
    .bind(client_addr)
    .bind(reason)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

pub async fn deletion_requests(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Vec<DeletionRequestRow>> {
    Ok(sqlx::query_as(
        "SELECT id, user_id, requested_at, client_addr, reason, completed_at FROM deletion_requests \
         WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// One's own display name (the identity and mobile numbers go through
/// `users::set_personal`).
pub async fn set_display_name(
    conn: &mut AnyConnection,
    user_id: i64,
    name: &str,
    at: &str,
) -> Result<()> {
    changed(
        sqlx::query("UPDATE users SET display_name = $1, updated_at = $2 WHERE id = $3")
            .bind(name)
            .bind(at)
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}

/// Accounts closed before `closed_before` and not yet anonymised, oldest first.
pub async fn closed_before(conn: &mut AnyConnection, closed_before: &str) -> Result<Vec<i64>> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM users WHERE closed_at IS NOT NULL AND closed_at < $1 AND anonymised_at IS NULL \
         ORDER BY closed_at, id",
    )
    .bind(closed_before)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// A case as the retention pass needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApplicantCase {
    pub id: i64,
    pub case_no: String,
    pub item_id: i64,
    pub item_version: i64,
    pub status: String,
    pub form: String,
}

/// The cases a user filed, oldest first.
pub async fn applicant_cases(conn: &mut AnyConnection, user_id: i64) -> Result<Vec<ApplicantCase>> {
    Ok(sqlx::query_as(
        "SELECT id, case_no, item_id, item_version, status, form FROM cases WHERE applicant_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Replaces a case's (sealed) form. Only the column changes: neither the
/// case's version nor its last-change time, as in resealing.
pub async fn set_case_form(conn: &mut AnyConnection, case_id: i64, form: &str) -> Result<()> {
    changed(
        sqlx::query("UPDATE cases SET form = $1 WHERE id = $2")
            .bind(form)
            .bind(case_id)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}

/// Removes the personal information of a closed account: its name becomes
/// `display_name`, its username `username`; identity number, mobile, their
/// blind indexes and the password hash go. `Conflict` if it was done already.
pub async fn anonymise_account(
    conn: &mut AnyConnection,
    user_id: i64,
    display_name: &str,
    username: &str,
    at: &str,
) -> Result<()> {
    changed(
        sqlx::query(
            "UPDATE users SET display_name = $1, username = $2, password_hash = NULL, id_number = NULL, \
             id_number_bidx = NULL, mobile = NULL, mobile_bidx = NULL, anonymised_at = $3, updated_at = $3 \
             WHERE id = $4 AND closed_at IS NOT NULL AND anonymised_at IS NULL",
        )
        .bind(display_name)
        .bind(username)
        .bind(at)
        .bind(user_id)
        .execute(&mut *conn)
        .await?
        .rows_affected(),
    )
}

/// Marks the user's deletion requests as carried out.
pub async fn complete_deletion_requests(
    conn: &mut AnyConnection,
    user_id: i64,
    at: &str,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE deletion_requests SET completed_at = $1 WHERE user_id = $2 AND completed_at IS NULL",
    )
    .bind(at)
    .bind(user_id)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}
