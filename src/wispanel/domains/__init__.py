"""Domains: sites served by nginx and PHP-FPM, their aliases, suspension and logs."""
