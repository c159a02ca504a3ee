//! `mod-audit`: the audit operational module for agtpd. It depends on `agtp-core` only, never on the daemon or another module; the pipeline hooks it implements arrive with the module API.
