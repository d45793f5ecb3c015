//! The login statistics of a set of logins, summed per account before they are written: one
//! upsert for all the accounts of a batch rather than one statement a login.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use gatehouse_core::LoginRecord;
use sea_orm::prelude::TextUuid;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict};
use sea_orm::{ActiveValue::Set, DbBackend, EntityTrait, QueryTrait, Statement};
use uuid::Uuid;

use crate::entities::login_stat;
use crate::store::stamp;

/// The most rows one upsert takes (five values a row, well under either backend's limit).
const ROWS_PER_STATEMENT: usize = 1024;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    successes: i64,
    failures: i64,
    last_success: Option<DateTime<Utc>>,
    last_failure: Option<DateTime<Utc>>,
}

/// Successes, failures and the latest of each, per account.
#[derive(Debug, Default)]
pub(crate) struct LoginCounts {
    by_account: BTreeMap<Uuid, Counts>,
}

impl LoginCounts {
    pub(crate) fn of<'a>(records: impl IntoIterator<Item = &'a LoginRecord>) -> Self {
        let mut counts = Self::default();
        for record in records {
            counts.add(record);
        }
        counts
    }

    /// Counts `record`'s login against its account (none for a login that named no account).
    pub(crate) fn add(&mut self, record: &LoginRecord) {
        let Some(id) = record.account_id else {
            return;
        };
        let entry = self.by_account.entry(id.0).or_default();
        if record.success {
            entry.successes += 1;
            entry.last_success = Ord::max(entry.last_success, Some(record.at));
        } else {
            entry.failures += 1;
            entry.last_failure = Ord::max(entry.last_failure, Some(record.at));
        }
    }

    /// The upserts adding these counts to the stored ones.
    pub(crate) fn statements(&self, backend: DbBackend) -> Vec<Statement> {
        use login_stat::Column as C;
        // The counters add up in the store, so concurrent logins of one account lose no
        // increment, and accounts created before statistics existed get their row here. Each
        // account appears once (summed above), as PostgreSQL requires of one INSERT … ON
        // CONFLICT.
        let excluded = |c: C| Expr::col((Alias::new("excluded"), c));
        let stored = |c: C| Expr::col((login_stat::Entity, c));
        let upsert = OnConflict::column(C::AccountId)
            .value(
                C::SuccessCount,
                stored(C::SuccessCount).add(excluded(C::SuccessCount)),
            )
            .value(
                C::FailureCount,
                stored(C::FailureCount).add(excluded(C::FailureCount)),
            )
            .value(
                C::LastSuccessAt,
                Func::coalesce([excluded(C::LastSuccessAt), stored(C::LastSuccessAt)]),
            )
            .value(
                C::LastFailureAt,
                Func::coalesce([excluded(C::LastFailureAt), stored(C::LastFailureAt)]),
            )
            .to_owned();
        let mut rows = self
            .by_account
            .iter()
            .map(|(id, counts)| login_stat::ActiveModel {
                account_id: Set(TextUuid(*id)),
                success_count: Set(counts.successes),
                failure_count: Set(counts.failures),
                last_success_at: Set(counts.last_success.map(stamp)),
                last_failure_at: Set(counts.last_failure.map(stamp)),
            })
            .peekable();
        let mut statements = Vec::new();
        while rows.peek().is_some() {
            let chunk = rows.by_ref().take(ROWS_PER_STATEMENT);
            let counters = login_stat::Entity::insert_many(chunk).on_conflict(upsert.clone());
            statements.push(counters.build(backend));
        }
        statements
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use gatehouse_core::AccountId;

    use super::*;

    fn login(account: Option<Uuid>, success: bool, at: DateTime<Utc>) -> LoginRecord {
        LoginRecord {
            realm: "main".to_owned(),
            login: "x".to_owned(),
            account_id: account.map(AccountId),
            success,
            result: String::new(),
            attempts: vec![],
            at,
            redirect: false,
            origin: Default::default(),
        }
    }

    #[test]
    fn counts_sum_per_account_and_keep_the_latest_of_each_outcome() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let t = Utc::now();
        let later = t + TimeDelta::seconds(1);
        let records = [
            login(Some(a), true, later),
            login(Some(a), true, t),
            login(Some(a), false, t),
            login(Some(b), false, later),
            login(None, true, later),
        ];
        let counts = LoginCounts::of(&records);
        assert_eq!(
            counts.by_account.len(),
            2,
            "a login of no account counts nowhere"
        );
        assert_eq!(
            counts.by_account[&a],
            Counts {
                successes: 2,
                failures: 1,
                last_success: Some(later),
                last_failure: Some(t),
            }
        );
        assert_eq!(
            counts.by_account[&b],
            Counts {
                successes: 0,
                failures: 1,
                last_success: None,
                last_failure: Some(later),
            }
        );
        assert_eq!(counts.statements(DbBackend::Sqlite).len(), 1);
        assert!(
            LoginCounts::default()
                .statements(DbBackend::Sqlite)
                .is_empty()
        );
    }
}
