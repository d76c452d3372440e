"""Feedbot core: settings, survey configuration, the NPS arithmetic and the store."""
