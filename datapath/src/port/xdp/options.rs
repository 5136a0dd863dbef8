//! Parsing of a port's `options` map (`key=value` strings from the configuration).

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::port::PortError;

/// A port's options, checked against the keys the port kind accepts.
#[derive(Debug)]
pub struct Options<'a> {
    iface: &'a str,
    map: &'a BTreeMap<String, String>,
}

impl<'a> Options<'a> {
    /// Wraps `map`, refusing any key not in `accepted` (a typo must not be silently ignored).
    pub fn new(
        iface: &'a str,
        map: &'a BTreeMap<String, String>,
        accepted: &[&str],
    ) -> Result<Options<'a>, PortError> {
        if let Some(unknown) = map.keys().find(|k| !accepted.contains(&k.as_str())) {
            return Err(PortError::BadOption {
                iface: iface.to_string(),
                option: unknown.clone(),
                why: format!("unknown option (accepted: {})", accepted.join(", ")),
            });
        }
        Ok(Options { iface, map })
    }

    /// The error for option `key`.
    pub fn bad(&self, key: &str, why: impl Into<String>) -> PortError {
        PortError::BadOption {
            iface: self.iface.to_string(),
            option: key.to_string(),
            why: why.into(),
        }
    }

    /// The raw value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.map.get(key).map(String::as_str)
    }

    /// `key` parsed as a number, or `default` when unset.
    pub fn number<T: FromStr>(&self, key: &str, default: T) -> Result<T, PortError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| self.bad(key, format!("{v:?} is not a number"))),
        }
    }

    /// `key` as a boolean (`true`/`false`), or `default` when unset.
    pub fn flag(&self, key: &str, default: bool) -> Result<bool, PortError> {
        match self.get(key) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(v) => Err(self.bad(key, format!("{v:?} is not true or false"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn values_defaults_and_errors() {
        let m = map(&[("queue", "3"), ("csum-repair", "false")]);
        let o = Options::new("eth0", &m, &["queue", "csum-repair", "rx-ring"]).unwrap();
        assert_eq!(o.number("queue", 0u32).unwrap(), 3);
        assert_eq!(o.number("rx-ring", 2048u32).unwrap(), 2048);
        assert!(!o.flag("csum-repair", true).unwrap());

        let m = map(&[("queue", "x"), ("csum-repair", "yes")]);
        let o = Options::new("eth0", &m, &["queue", "csum-repair"]).unwrap();
        assert!(o.number("queue", 0u32).is_err());
        let e = o.flag("csum-repair", true).unwrap_err().to_string();
        assert!(e.contains("eth0") && e.contains("csum-repair"), "{e}");

        let m = map(&[("qeueu", "1")]);
        let e = Options::new("eth0", &m, &["queue"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("qeueu") && e.contains("accepted: queue"), "{e}");
    }
}
