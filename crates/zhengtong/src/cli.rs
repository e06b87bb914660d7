//! The command line. Every subcommand reads the same configuration (file +
//! `ZT_*` environment).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "zhengtong",
    version,
    about = "政通 Zhengtong 政务服务平台（一网通办）",
    long_about = "政通 Zhengtong: online government services (一网通办).\n\n\
        Configuration comes from built-in defaults, then a TOML file (--config or ZT_CONFIG), then ZT_* \
        environment variables, e.g. ZT_DATABASE_URL=sqlite://var/zt.db or postgres://postgres@127.0.0.1:5432/zt, \
        ZT_LISTEN=127.0.0.1:8080, ZT_DATA_DIR=var."
)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the platform (portal, workbench, administration, REST API).
    /// Refuses to start while migrations are pending, unless --migrate.
    Serve {
        /// Apply pending migrations before serving.
        #[arg(long)]
        migrate: bool,
    },
    /// Serve a demonstration platform: an embedded SQLite database seeded with
    /// departments, items, accounts (password Demo@2026) and about 50 cases.
    Demo {
        /// Listen address (default: ZT_LISTEN or 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
        /// Delete the demo database first and seed it anew.
        #[arg(long)]
        fresh: bool,
        /// Seed (if needed) and exit without serving.
        #[arg(long)]
        seed_only: bool,
    },
    /// Migrate V1.0's history (MySQL `gov_v1` and its attachment files) into
    /// the configured database and file store, write the two listings of the
    /// bureau's acceptance rule and report.json, and check them against the
    /// manifest when one is given. Idempotent; resumable with --resume.
    #[command(name = "migrate-v1", args_conflicts_with_subcommands = true)]
    MigrateV1 {
        #[command(flatten)]
        run: MigrateV1Args,
        #[command(subcommand)]
        command: Option<MigrateV1Command>,
    },
    /// Database schema.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// The audit trail: verify its hash chain, anchor it, archive old records.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The outbox of case events for the data-sharing platform (gxpt).
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Keys for personal information at rest: create, inspect, rotate.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Personal information (GB/T 35273): the retention of closed accounts.
    Privacy {
        #[command(subcommand)]
        command: PrivacyCommand,
    },
    /// Administration from the host: accounts, passwords, holiday calendar.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Back up the database, every stored material and the audit anchor file
    /// into a new directory DIR/zt-backup-<UTC time>/ with a manifest holding
    /// the SM3 of every file. Safe while the server runs.
    Backup {
        /// Directory in which the backup directory is created.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Restore a backup into the configured empty database and data directory,
    /// then verify it (table counts, audit chain, materials) against its
    /// manifest. Stop the server first.
    Restore {
        /// The backup directory (…/zt-backup-<time>).
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// Replace a database (and add to a file store) that is not empty.
        #[arg(long)]
        force: bool,
        /// Only check the backup's files against its manifest; change nothing.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply pending migrations and import bundled holiday years that are missing.
    Migrate,
    /// Report whether the schema is current.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Pending, failed and delivered messages, and the age of the oldest
    /// undelivered one. Exits 1 when messages have failed.
    Status,
    /// Compare a day's pushes with gxpt (count and SM3 digest), push again
    /// what gxpt lacks, report what conflicts. Exits 1 when a difference
    /// remains that could not be repaired.
    Reconcile {
        /// Beijing date, YYYY-MM-DD.
        #[arg(long)]
        date: String,
    },
    /// Put failed messages (refused by the counterpart) back in the queue,
    /// after their cause has been fixed.
    Retry {
        /// Only this case's messages.
        #[arg(long)]
        case_no: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create the key file (pii_key_file, or --out); never overwrites one.
    Init {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Count the sealed values per key id.
    Status,
    /// Seal values still in plaintext or under an older key with the active key.
    Reseal,
    /// Add a new active key to the key file and reseal every value with it
    /// while the platform keeps serving (servers reread the file on their own).
    Rotate {
        /// Id of the new key, e.g. 2027a ([A-Za-z0-9_-], at most 16).
        #[arg(long)]
        new_key_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Anonymise the personal information of accounts closed by their owners
    /// more than `pi_retention_days` ago whose cases are all finished: name,
    /// identity number, mobile and login go, and the personal fields of
    /// their case forms are masked (the case records stay). One audit record
    /// per account; running it again changes nothing. Reports the counts.
    Retention {
        /// Count what would be anonymised; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the SM3 chain and the anchors; name the first altered, deleted or
    /// reordered record and exit 1, or exit 0 when intact.
    Verify,
    /// Record the chain's head now (the server also does it periodically).
    Anchor,
    /// Move records older than a date (and the retention period) to a
    /// JSON-lines file, leaving a mark from which verification continues.
    Archive {
        /// Beijing date, YYYY-MM-DD: records before it are archived.
        #[arg(long)]
        before: String,
        /// Directory for the archive file.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account. The password is read from ZT_NEW_PASSWORD or standard input.
    CreateUser {
        #[arg(long)]
        username: String,
        /// Display name (姓名).
        #[arg(long)]
        name: String,
        /// person | agent | staff | admin
        #[arg(long, default_value = "staff")]
        user_type: String,
        /// Comma-separated roles: applicant, clerk, reviewer, approver, sysadmin, secadmin, auditor.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// Department code (for case staff).
        #[arg(long)]
        dept: Option<String>,
    },
    /// Set a new password (from ZT_NEW_PASSWORD or standard input); ends the account's sessions.
    ResetPassword {
        #[arg(long)]
        username: String,
    },
    /// Remove an account's authenticator after a lost phone (also an
    /// administrator's: the break-glass path); it enrols again at next login.
    ResetSecondFactor {
        #[arg(long)]
        username: String,
    },
    /// Holiday calendar.
    Calendar {
        #[command(subcommand)]
        command: CalendarCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// Import a year's arrangement from a TOML file (`[2027] holidays = [...] workdays = [...]`).
    Import {
        file: PathBuf,
        /// Where it comes from, e.g. the State Council notice number.
        #[arg(long)]
        source: String,
    },
    /// List the loaded years.
    List,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}

#[derive(Debug, clap::Args)]
pub struct MigrateV1Args {
    /// V1's database, e.g. mysql://root@127.0.0.1:3306/gov_v1 (or ZT_V1_SOURCE_URL).
    #[arg(long, env = "ZT_V1_SOURCE_URL", value_name = "URL")]
    pub source: Option<String>,
    /// V1's attachment root (the folder holding upload/ and license/).
    #[arg(long, value_name = "DIR")]
    pub files: Option<PathBuf>,
    /// Where cases.txt, quarantine.txt and report.json are written.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// The bureau's manifest.json: compare the listings and counts with it
    /// (exit 1 on a difference).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Read, transform, verify every file and report, writing nothing into
    /// the configured database or file store (a throw-away database is used).
    #[arg(long)]
    pub dry_run: bool,
    /// Continue a run that was interrupted.
    #[arg(long)]
    pub resume: bool,
    /// V1 cases (or accounts) per transaction.
    #[arg(long, default_value_t = 1000)]
    pub batch: i64,
    /// auto | bar | plain | off
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// V1's freeze, Beijing time.
    #[arg(long, default_value = "2026-10-31 18:00:00")]
    pub freeze: String,
}

#[derive(Debug, Subcommand)]
pub enum MigrateV1Command {
    /// Regenerate the listings and report.json from the database.
    Report {
        #[arg(long, value_name = "DIR")]
        report: PathBuf,
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
    },
    /// Runs, phases and their checkpoints.
    Status,
    /// Release a quarantined row the bureau has corrected: it goes through the
    /// same rules from the V1 values the quarantine kept. An account brings
    /// its held cases with it; a material needs the file found for it.
    Release {
        /// t_citizen or t_apply_material.
        #[arg(long)]
        table: String,
        #[arg(long)]
        id: i64,
        /// A correction, field=value (t_citizen: id_card, real_name, mobile).
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// The attachment file found for a material (its MD5 must be V1's).
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// Who verified the correction (recorded and audited).
        #[arg(long)]
        operator: String,
        /// Why the row may be released (recorded and audited).
        #[arg(long)]
        note: String,
        /// Check only; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}
