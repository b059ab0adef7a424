//! `--onall` and `--nonall`.
