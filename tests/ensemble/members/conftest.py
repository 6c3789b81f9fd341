from __future__ import annotations

import pytest
import torch

from ensemble.members.reply import ReplyModel

REPLIES = [
    "I can help you cancel order {{Order Number}}. Log into {{Website Name}} and open {{Order History}}.",
    "To track your parcel, visit {{Website URL}} or call {{Customer Support Phone Number}}.",
    "We are sorry about the delay. Our team is available {{Customer Support Availability}} on {{Live Chat}}.",
    "Your refund for {{Order Number}} is being processed; check {{Refunds}} on {{Website Name}}.",
    "To change the address, open {{Shipping Address}} in {{Account Settings}} and press {{Save}}.",
    "You can pay by card or transfer; see {{Payment Methods}} on {{Website Name}} for details.",
    "Please call {{Customer Support Phone Number}} to speak with an agent about your invoice.",
    "I understand. Go to {{Invoices}} and download the invoice for {{Order Number}}.",
    "Sure, open {{Newsletter Subscription}} and untick the box to unsubscribe.",
    "Create an account on {{Website Name}}: press {{Sign Up}} and follow the steps.",
]
MESSAGES = [
    "cancel order 123",
    "where is my parcel",
    "my delivery is late",
    "refund for order 456",
    "change my shipping address",
    "what payment methods do you accept",
    "I want to talk to a person",
    "I need invoice for order 789",
    "unsubscribe me from the newsletter",
    "how do I open an account",
]
INTENTS = [
    "cancel_order",
    "track_order",
    "delivery_period",
    "get_refund",
    "change_shipping_address",
    "check_payment_methods",
    "contact_human_agent",
    "get_invoice",
    "newsletter_subscription",
    "create_account",
]


@pytest.fixture
def tiny_model() -> ReplyModel:
    torch.set_num_threads(1)
    return ReplyModel.tiny([*MESSAGES, *REPLIES], seed=0)
