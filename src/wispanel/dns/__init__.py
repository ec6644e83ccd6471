"""DNS zones and records, served by PowerDNS."""
