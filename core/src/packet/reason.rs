//! MQTT 5.0 reason codes (specification section 2.4), with the 3.1.1 return
//! codes mapped onto them.

/// One MQTT 5.0 reason code. Values that mean different things in different
/// packets (0x00 is "Success", "Normal disconnection" and "Granted QoS 0")
/// share one variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[repr(u8)]
pub enum ReasonCode {
    /// Success / Normal disconnection / Granted QoS 0.
    #[default]
    Success = 0x00,
    GrantedQoS1 = 0x01,
    GrantedQoS2 = 0x02,
    DisconnectWithWillMessage = 0x04,
    NoMatchingSubscribers = 0x10,
    NoSubscriptionExisted = 0x11,
    ContinueAuthentication = 0x18,
    ReAuthenticate = 0x19,
    UnspecifiedError = 0x80,
    MalformedPacket = 0x81,
    ProtocolError = 0x82,
    ImplementationSpecificError = 0x83,
    UnsupportedProtocolVersion = 0x84,
    ClientIdentifierNotValid = 0x85,
    BadUserNameOrPassword = 0x86,
    NotAuthorized = 0x87,
    ServerUnavailable = 0x88,
    ServerBusy = 0x89,
    Banned = 0x8A,
    ServerShuttingDown = 0x8B,
    BadAuthenticationMethod = 0x8C,
    KeepAliveTimeout = 0x8D,
    SessionTakenOver = 0x8E,
    TopicFilterInvalid = 0x8F,
    TopicNameInvalid = 0x90,
    PacketIdentifierInUse = 0x91,
    PacketIdentifierNotFound = 0x92,
    ReceiveMaximumExceeded = 0x93,
    TopicAliasInvalid = 0x94,
    PacketTooLarge = 0x95,
    MessageRateTooHigh = 0x96,
    QuotaExceeded = 0x97,
    AdministrativeAction = 0x98,
    PayloadFormatInvalid = 0x99,
    RetainNotSupported = 0x9A,
    QoSNotSupported = 0x9B,
    UseAnotherServer = 0x9C,
    ServerMoved = 0x9D,
    SharedSubscriptionsNotSupported = 0x9E,
    ConnectionRateExceeded = 0x9F,
    MaximumConnectTime = 0xA0,
    SubscriptionIdentifiersNotSupported = 0xA1,
    WildcardSubscriptionsNotSupported = 0xA2,
}

impl ReasonCode {
    /// Every reason code, in numeric order.
    pub const ALL: [ReasonCode; 43] = [
        ReasonCode::Success,
        ReasonCode::GrantedQoS1,
        ReasonCode::GrantedQoS2,
        ReasonCode::DisconnectWithWillMessage,
        ReasonCode::NoMatchingSubscribers,
        ReasonCode::NoSubscriptionExisted,
        ReasonCode::ContinueAuthentication,
        ReasonCode::ReAuthenticate,
        ReasonCode::UnspecifiedError,
        ReasonCode::MalformedPacket,
        ReasonCode::ProtocolError,
        ReasonCode::ImplementationSpecificError,
        ReasonCode::UnsupportedProtocolVersion,
        ReasonCode::ClientIdentifierNotValid,
        ReasonCode::BadUserNameOrPassword,
        ReasonCode::NotAuthorized,
        ReasonCode::ServerUnavailable,
        ReasonCode::ServerBusy,
        ReasonCode::Banned,
        ReasonCode::ServerShuttingDown,
        ReasonCode::BadAuthenticationMethod,
        ReasonCode::KeepAliveTimeout,
        ReasonCode::SessionTakenOver,
        ReasonCode::TopicFilterInvalid,
        ReasonCode::TopicNameInvalid,
        ReasonCode::PacketIdentifierInUse,
        ReasonCode::PacketIdentifierNotFound,
        ReasonCode::ReceiveMaximumExceeded,
        ReasonCode::TopicAliasInvalid,
        ReasonCode::PacketTooLarge,
        ReasonCode::MessageRateTooHigh,
        ReasonCode::QuotaExceeded,
        ReasonCode::AdministrativeAction,
        ReasonCode::PayloadFormatInvalid,
        ReasonCode::RetainNotSupported,
        ReasonCode::QoSNotSupported,
        ReasonCode::UseAnotherServer,
        ReasonCode::ServerMoved,
        ReasonCode::SharedSubscriptionsNotSupported,
        ReasonCode::ConnectionRateExceeded,
        ReasonCode::MaximumConnectTime,
        ReasonCode::SubscriptionIdentifiersNotSupported,
        ReasonCode::WildcardSubscriptionsNotSupported,
    ];

    /// The variant's name, as `Debug` prints it (`"NotAuthorized"`): written
    /// out so that builds whose `Debug` prints nothing (the npm package's)
    /// still name the code in errors and trace lines.
    pub fn name(self) -> &'static str {
        match self {
            ReasonCode::Success => "Success",
            ReasonCode::GrantedQoS1 => "GrantedQoS1",
            ReasonCode::GrantedQoS2 => "GrantedQoS2",
            ReasonCode::DisconnectWithWillMessage => "DisconnectWithWillMessage",
            ReasonCode::NoMatchingSubscribers => "NoMatchingSubscribers",
            ReasonCode::NoSubscriptionExisted => "NoSubscriptionExisted",
            ReasonCode::ContinueAuthentication => "ContinueAuthentication",
            ReasonCode::ReAuthenticate => "ReAuthenticate",
            ReasonCode::UnspecifiedError => "UnspecifiedError",
            ReasonCode::MalformedPacket => "MalformedPacket",
            ReasonCode::ProtocolError => "ProtocolError",
            ReasonCode::ImplementationSpecificError => "ImplementationSpecificError",
            ReasonCode::UnsupportedProtocolVersion => "UnsupportedProtocolVersion",
            ReasonCode::ClientIdentifierNotValid => "ClientIdentifierNotValid",
            ReasonCode::BadUserNameOrPassword => "BadUserNameOrPassword",
            ReasonCode::NotAuthorized => "NotAuthorized",
            ReasonCode::ServerUnavailable => "ServerUnavailable",
            ReasonCode::ServerBusy => "ServerBusy",
            ReasonCode::Banned => "Banned",
            ReasonCode::ServerShuttingDown => "ServerShuttingDown",
            ReasonCode::BadAuthenticationMethod => "BadAuthenticationMethod",
            ReasonCode::KeepAliveTimeout => "KeepAliveTimeout",
            ReasonCode::SessionTakenOver => "SessionTakenOver",
            ReasonCode::TopicFilterInvalid => "TopicFilterInvalid",
            ReasonCode::TopicNameInvalid => "TopicNameInvalid",
            ReasonCode::PacketIdentifierInUse => "PacketIdentifierInUse",
            ReasonCode::PacketIdentifierNotFound => "PacketIdentifierNotFound",
            ReasonCode::ReceiveMaximumExceeded => "ReceiveMaximumExceeded",
            ReasonCode::TopicAliasInvalid => "TopicAliasInvalid",
            ReasonCode::PacketTooLarge => "PacketTooLarge",
            ReasonCode::MessageRateTooHigh => "MessageRateTooHigh",
            ReasonCode::QuotaExceeded => "QuotaExceeded",
            ReasonCode::AdministrativeAction => "AdministrativeAction",
            ReasonCode::PayloadFormatInvalid => "PayloadFormatInvalid",
            ReasonCode::RetainNotSupported => "RetainNotSupported",
            ReasonCode::QoSNotSupported => "QoSNotSupported",
            ReasonCode::UseAnotherServer => "UseAnotherServer",
            ReasonCode::ServerMoved => "ServerMoved",
            ReasonCode::SharedSubscriptionsNotSupported => "SharedSubscriptionsNotSupported",
            ReasonCode::ConnectionRateExceeded => "ConnectionRateExceeded",
            ReasonCode::MaximumConnectTime => "MaximumConnectTime",
            ReasonCode::SubscriptionIdentifiersNotSupported => {
                "SubscriptionIdentifiersNotSupported"
            }
            ReasonCode::WildcardSubscriptionsNotSupported => "WildcardSubscriptionsNotSupported",
        }
    }

    /// `Name (0xNN)`, as `Display` prints it, without `core::fmt`.
    ///
    /// ```
    /// use midge_core::packet::ReasonCode;
    /// assert_eq!(ReasonCode::NotAuthorized.describe(), "NotAuthorized (0x87)");
    /// ```
    pub fn describe(self) -> String {
        crate::text::cat(&[self.name(), " (0x", &crate::text::hex(self.code()), ")"])
    }

    /// The wire value.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The reason code for a wire value, if the specification defines it.
    pub fn from_u8(value: u8) -> Option<ReasonCode> {
        // ALL is sorted by value, so a binary search finds it.
        ReasonCode::ALL
            .binary_search_by_key(&value, |code| *code as u8)
            .ok()
            .map(|index| ReasonCode::ALL[index])
    }

    /// True for failure codes (0x80 and above).
    pub fn is_error(self) -> bool {
        (self as u8) >= 0x80
    }

    /// The 5.0 reason code equivalent to a 3.1.1 CONNACK return code.
    pub fn from_v311_connack(return_code: u8) -> Option<ReasonCode> {
        Some(match return_code {
            0 => ReasonCode::Success,
            1 => ReasonCode::UnsupportedProtocolVersion,
            2 => ReasonCode::ClientIdentifierNotValid,
            3 => ReasonCode::ServerUnavailable,
            4 => ReasonCode::BadUserNameOrPassword,
            5 => ReasonCode::NotAuthorized,
            _ => return None,
        })
    }

    /// The 3.1.1 CONNACK return code closest to this reason code.
    pub fn to_v311_connack(self) -> u8 {
        match self {
            ReasonCode::Success => 0,
            ReasonCode::UnsupportedProtocolVersion => 1,
            ReasonCode::ClientIdentifierNotValid => 2,
            ReasonCode::BadUserNameOrPassword | ReasonCode::BadAuthenticationMethod => 4,
            ReasonCode::NotAuthorized | ReasonCode::Banned => 5,
            _ => 3,
        }
    }

    /// The 5.0 reason code for a 3.1.1 SUBACK return code (0, 1, 2 or 0x80).
    pub fn from_v311_suback(return_code: u8) -> Option<ReasonCode> {
        Some(match return_code {
            0 => ReasonCode::Success,
            1 => ReasonCode::GrantedQoS1,
            2 => ReasonCode::GrantedQoS2,
            0x80 => ReasonCode::UnspecifiedError,
            _ => return None,
        })
    }

    /// The 3.1.1 SUBACK return code: the granted QoS, or 0x80 for any failure.
    pub fn to_v311_suback(self) -> u8 {
        match self {
            ReasonCode::Success => 0,
            ReasonCode::GrantedQoS1 => 1,
            ReasonCode::GrantedQoS2 => 2,
            _ => 0x80,
        }
    }

    /// The SUBACK reason code that grants `qos`: the inverse of
    /// [`granted_qos`](Self::granted_qos).
    ///
    /// ```
    /// use midge_core::packet::{QoS, ReasonCode};
    ///
    /// assert_eq!(ReasonCode::granted(QoS::AtLeastOnce), ReasonCode::GrantedQoS1);
    /// assert_eq!(ReasonCode::granted(QoS::ExactlyOnce).granted_qos(), Some(QoS::ExactlyOnce));
    /// ```
    pub fn granted(qos: super::QoS) -> ReasonCode {
        match qos {
            super::QoS::AtMostOnce => ReasonCode::Success,
            super::QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
            super::QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
        }
    }

    /// The QoS granted by a SUBACK reason code, or `None` for a failure.
    pub fn granted_qos(self) -> Option<super::QoS> {
        match self {
            ReasonCode::Success => Some(super::QoS::AtMostOnce),
            ReasonCode::GrantedQoS1 => Some(super::QoS::AtLeastOnce),
            ReasonCode::GrantedQoS2 => Some(super::QoS::ExactlyOnce),
            _ => None,
        }
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // As `write!(f, "{:?} (0x{:02X})", ..)`, without `core::fmt::write`
        // and hex printing in the browser package.
        const HEX: [&str; 16] = [
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F",
        ];
        let code = usize::from(*self as u8);
        f.write_str(self.name())?;
        f.write_str(" (0x")?;
        f.write_str(HEX[code >> 4])?;
        f.write_str(HEX[code & 15])?;
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_debug() {
        for code in ReasonCode::ALL {
            assert_eq!(code.name(), format!("{code:?}"));
        }
    }

    #[test]
    fn from_u8_round_trips_every_code() {
        for code in ReasonCode::ALL {
            assert_eq!(ReasonCode::from_u8(code.code()), Some(code));
        }
        assert_eq!(ReasonCode::from_u8(0x03), None);
        assert_eq!(ReasonCode::from_u8(0xFF), None);
    }

    #[test]
    fn v311_codes_map_both_ways() {
        for rc in 0..=5u8 {
            let code = ReasonCode::from_v311_connack(rc).unwrap();
            assert_eq!(code.to_v311_connack(), rc);
        }
        assert_eq!(ReasonCode::from_v311_connack(6), None);
        for rc in [0u8, 1, 2, 0x80] {
            assert_eq!(
                ReasonCode::from_v311_suback(rc).unwrap().to_v311_suback(),
                rc
            );
        }
    }
}
