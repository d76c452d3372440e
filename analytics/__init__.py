"""Analytics: reads the store (never Rasa's tracker) for reports and exports."""
