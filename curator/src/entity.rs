//! What the fast path finds. Fine-grained types (as the simulator labels them) so the
//! evaluation is per type; `category` groups them into the seven entities.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    CreditCard,
    Ssn,
    Phone,
    Email,
    ApiKey,
    BearerToken,
    Jwt,
    AwsAccessKey,
    AwsSecretKey,
    Ipv4,
    Ipv6,
    PersonName,
}

/// The entity groups: one redaction token and one policy each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    CreditCard,
    Ssn,
    Phone,
    Email,
    ApiKey,
    IpAddress,
    Name,
}

impl Entity {
    pub const ALL: [Entity; 12] = [
        Entity::CreditCard,
        Entity::Ssn,
        Entity::Phone,
        Entity::Email,
        Entity::ApiKey,
        Entity::BearerToken,
        Entity::Jwt,
        Entity::AwsAccessKey,
        Entity::AwsSecretKey,
        Entity::Ipv4,
        Entity::Ipv6,
        Entity::PersonName,
    ];

    /// The simulator's label name (`qb_simulator` `pii` spans).
    pub fn name(self) -> &'static str {
        match self {
            Entity::CreditCard => "credit_card",
            Entity::Ssn => "ssn",
            Entity::Phone => "phone",
            Entity::Email => "email",
            Entity::ApiKey => "api_key",
            Entity::BearerToken => "bearer_token",
            Entity::Jwt => "jwt",
            Entity::AwsAccessKey => "aws_access_key",
            Entity::AwsSecretKey => "aws_secret_key",
            Entity::Ipv4 => "ipv4",
            Entity::Ipv6 => "ipv6",
            Entity::PersonName => "person_name",
        }
    }

    pub fn from_name(name: &str) -> Option<Entity> {
        Entity::ALL.into_iter().find(|e| e.name() == name)
    }

    pub fn category(self) -> Category {
        match self {
            Entity::CreditCard => Category::CreditCard,
            Entity::Ssn => Category::Ssn,
            Entity::Phone => Category::Phone,
            Entity::Email => Category::Email,
            Entity::ApiKey
            | Entity::BearerToken
            | Entity::Jwt
            | Entity::AwsAccessKey
            | Entity::AwsSecretKey => Category::ApiKey,
            Entity::Ipv4 | Entity::Ipv6 => Category::IpAddress,
            Entity::PersonName => Category::Name,
        }
    }
}

impl Category {
    /// The replacement token, e.g. `[CREDIT_CARD_REDACTED]`.
    pub fn token(self) -> &'static str {
        match self {
            Category::CreditCard => "[CREDIT_CARD_REDACTED]",
            Category::Ssn => "[SSN_REDACTED]",
            Category::Phone => "[PHONE_REDACTED]",
            Category::Email => "[EMAIL_REDACTED]",
            Category::ApiKey => "[API_KEY_REDACTED]",
            Category::IpAddress => "[IP_ADDRESS_REDACTED]",
            Category::Name => "[NAME_REDACTED]",
        }
    }
}
