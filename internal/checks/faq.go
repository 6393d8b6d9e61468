package checks

// FAQ is the ACK container-network FAQ that most checks encode.
const FAQ = "https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/faq-about-container-networks"
