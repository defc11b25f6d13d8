"""Dataset export helpers with no database access: columns, file writers, splits, the card.

The service ``annotations.services.exports`` reads the rows and drives these.
"""
