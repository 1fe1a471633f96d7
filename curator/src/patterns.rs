//! Candidate patterns: broad shapes, compiled together into one multi-pattern regex.
//! A candidate is only a finding once `detector` validates it. A pattern with a
//! context keyword puts the value in a group named `v`.
//!
//! Written with ASCII classes and `(?-u:\b)` so the lazy DFA never has to give up on a
//! Unicode word boundary.

/// What validation a candidate gets (see `detector::validate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Card,
    SsnSeparated,
    SsnBare,
    PhoneNanp,
    PhoneIntl,
    PhoneSpelled,
    Email,
    FixedKey,
    Jwt,
    Bearer,
    AwsAccessKey,
    AwsSecretKey,
    KeywordSecret,
    Ipv4,
    Ipv6,
    Name,
    /// A learned rule (`learned.rs`): the entity's validator, if it has one.
    Learned(crate::entity::Entity),
}

/// One named candidate pattern.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable name, written in alerts.
    pub name: &'static str,
    pub check: Check,
    pub pattern: &'static str,
}

const NAME: &str = r"[A-ZÀ-ÞĀ-Ž][a-zA-Zß-ÿĀ-ž'\-]+(?: [A-ZÀ-ÞĀ-Ž][a-zA-Zß-ÿĀ-ž'\-]+){1,3}";
const DIGIT_WORD: &str = "(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)";

/// The rules, most specific first: at one start position the earlier pattern wins.
pub fn rules() -> Vec<(Rule, String)> {
    let fixed: [Rule; 15] = [
        Rule {
            name: "jwt",
            check: Check::Jwt,
            pattern: r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
        },
        Rule {
            name: "bearer_token",
            check: Check::Bearer,
            pattern: r"(?:(?i:bearer)[ ]+|access_token=)(?P<v>[A-Za-z0-9._~+/\-]{16,}=*)",
        },
        Rule {
            name: "stripe_key",
            check: Check::FixedKey,
            pattern: r"(?-u:\b)(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,99}",
        },
        Rule {
            name: "github_token",
            check: Check::FixedKey,
            pattern: r"(?-u:\b)gh[pousr]_[A-Za-z0-9]{36}",
        },
        Rule {
            name: "slack_token",
            check: Check::FixedKey,
            pattern: r"(?-u:\b)xox[abposr]-[0-9]{6,}-[0-9]{6,}-[A-Za-z0-9]{16,}",
        },
        Rule {
            name: "google_api_key",
            check: Check::FixedKey,
            pattern: r"AIza[0-9A-Za-z_\-]{35}",
        },
        Rule {
            name: "aws_access_key",
            check: Check::AwsAccessKey,
            pattern: r"(?-u:\b)(?:AKIA|ASIA)[A-Z2-7]{16}(?-u:\b)",
        },
        Rule {
            name: "aws_secret_key",
            check: Check::AwsSecretKey,
            pattern: r#"(?i:secret)[A-Za-z_.\- ]{0,24}["']?[ ]*[:=]?[ ]*["']?(?P<v>[A-Za-z0-9/+]{40})"#,
        },
        Rule {
            name: "keyword_secret",
            check: Check::KeywordSecret,
            pattern: r#"(?i:api[_\-]?key|apikey|secret|token|passwd|password|pwd)["']?[ ]*[:=][ ]*["']?(?P<v>[A-Za-z0-9._~+/=\-]{16,})"#,
        },
        Rule {
            name: "email",
            check: Check::Email,
            pattern: r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
        },
        Rule {
            name: "ipv6",
            check: Check::Ipv6,
            pattern: r"(?-u:\b)[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{0,4}){2,7}",
        },
        Rule {
            name: "ipv4",
            check: Check::Ipv4,
            pattern: r"(?-u:\b)[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?-u:\b)",
        },
        Rule {
            name: "phone_intl",
            check: Check::PhoneIntl,
            pattern: r"\+[1-9][0-9]{0,2}(?:[ \-]?[0-9]){7,12}(?-u:\b)",
        },
        Rule {
            name: "phone_nanp",
            check: Check::PhoneNanp,
            pattern: r"(?:\([2-9][0-9]{2}\) ?[2-9][0-9]{2}-[0-9]{4}|(?-u:\b)[2-9][0-9]{2}-[2-9][0-9]{2}-[0-9]{4}|(?-u:\b)[2-9][0-9]{2}\.[2-9][0-9]{2}\.[0-9]{4})(?-u:\b)",
        },
        Rule {
            name: "ssn_separated",
            check: Check::SsnSeparated,
            pattern: r"(?-u:\b)(?:[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4})(?-u:\b)",
        },
    ];
    let mut out: Vec<(Rule, String)> = fixed.iter().map(|r| (*r, r.pattern.to_string())).collect();
    // Before ssn_bare: a 13-19 digit run is a card candidate, a 9-digit run an SSN one.
    out.push((
        Rule {
            name: "credit_card",
            check: Check::Card,
            pattern: "",
        },
        r"(?-u:\b)[0-9](?:[ \-]?[0-9]){12,18}(?-u:\b)".to_string(),
    ));
    out.push((
        Rule {
            name: "ssn_keyword",
            check: Check::SsnBare,
            pattern: "",
        },
        r#"(?i:ssn|tin|social)[A-Za-z_.\- ]{0,12}["']?[ ]*[:=]?[ ]*["']?(?P<v>[0-9]{9})(?-u:\b)"#
            .to_string(),
    ));
    out.push((
        Rule {
            name: "phone_spelled",
            check: Check::PhoneSpelled,
            pattern: "",
        },
        format!(r"(?i:(?-u:\b){DIGIT_WORD}(?:[ ,\-]+{DIGIT_WORD}){{9,14}}(?-u:\b))"),
    ));
    out.push((
        Rule { name: "name_in_context", check: Check::Name, pattern: "" },
        format!(
            r#"(?:(?i:name|recipient)(?:\\?["'])?[ ]*[:=][ ]*(?:\\?["'])?|(?-u:\b)(?:user|customer|Dear) (?:\\?")?)(?P<v>{NAME})"#
        ),
    ));
    out
}
