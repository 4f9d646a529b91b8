//! Secrets (app secrets, callback tokens, AES keys) are shown back only masked.

/// Keeps the first and last few characters so an operator can tell two
/// secrets apart without the secret being readable on screen or in a log.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 8 {
        return "•".repeat(chars.len().max(4));
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 3..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn never_reveals_the_middle() {
        let s = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
        let m = mask(s);
        assert_eq!(m, "abc…EFG");
        assert!(!m.contains("mnop"));
    }

    #[test]
    fn short_secrets_are_fully_hidden() {
        assert_eq!(mask("abc"), "••••");
        assert_eq!(mask("abcdefgh"), "••••••••");
    }
}
