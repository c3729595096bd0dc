"""Trust: report card, signing, tamper diff, safe conversion."""
