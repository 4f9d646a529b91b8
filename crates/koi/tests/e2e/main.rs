//! koi's end-to-end tests, in one binary (linking is the slow part on a
//! 2-core machine). Each starts the real `koi` binary and drives it over
//! HTTP; the browser test drives Debian's chromium through chromedriver.

mod acquisition;
mod admin_cli;
mod api;
mod browser;
mod callback;
mod campaigns;
mod checkout;
mod console_acquisition;
mod console_campaigns;
mod console_mass_sends;
mod console_segments;
mod coupons;
mod customers;
mod demo;
mod distribution;
mod first_hour;
mod group_assistant;
mod group_codes;
mod groups;
mod guide_tools;
mod handover;
mod loyalty;
mod mass_sends;
mod migration;
mod nodes;
mod orders;
mod pay;
mod posters;
mod public_pages;
mod reliability;
mod sop;
mod staff_sync;
mod support;
mod webdriver;
