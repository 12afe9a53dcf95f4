//! The demo organisation ([`Seed::Demo`](crate::Seed::Demo)): one queue,
//! "Billing Support", with two supervisors and five agents, and five
//! conversations that cover the enricher's cases. The ids are fixed so the
//! demo script and the end-to-end tests can name them.

use chrono::{Duration, Utc};

use crate::seed::{ConversationSeed, HandledBy, MediaType, QueueMemberSeed, QueueSeed, UserSeed};
use crate::state::SandboxState;

/// Queue "Billing Support".
pub const BILLING_QUEUE_ID: &str = "365c25e4-253a-4b45-9e87-59238d5e402f";
/// Supervisor Maria Lopez (maria.lopez@example.com), member of the queue.
pub const SUPERVISOR_MARIA_ID: &str = "37726c76-41d5-4309-9cc5-7a2b707bcf16";
/// Supervisor James Okafor (james.okafor@example.com), member of the queue.
pub const SUPERVISOR_JAMES_ID: &str = "564a1bb9-9595-47d2-9e27-3d7dbe4831f0";
/// Contact centre manager Helen Park, superior of both supervisors.
pub const MANAGER_HELEN_ID: &str = "275c4574-216d-4550-acdb-7d76fbd1a01c";
/// Agent Priya Nair; superior: Maria.
pub const AGENT_PRIYA_ID: &str = "678fe305-8dee-4045-a2c6-083f5a3d7c3d";
/// Agent Tom Becker; superior: James.
pub const AGENT_TOM_ID: &str = "29fd342c-d07d-4df3-8e57-379adb34c6da";
/// Agent Ana Silva; superior: Maria.
pub const AGENT_ANA_ID: &str = "8107e73b-213b-451b-a256-d5ef07127ffc";
/// Agent Liam Chen; superior: James.
pub const AGENT_LIAM_ID: &str = "60cb8e29-1b61-467b-8f55-65cd46edaf66";
/// Agent Sofia Rossi, a member not joined to the queue; superior: James.
pub const AGENT_SOFIA_ID: &str = "b5b9bae0-a9b7-4279-ad3c-653afeeb30ec";
/// Wrap-up code "Billing - Refund request".
pub const WRAPUP_REFUND_ID: &str = "48b55cc2-9826-48bf-a140-d21113267f9c";
/// Wrap-up code "Billing - Payment issue".
pub const WRAPUP_PAYMENT_ID: &str = "e698329f-bc6f-4e0a-9146-3a976aee05c7";

/// Inbound call handled by Priya in Billing Support; recording ready on the
/// first poll; has a summary.
pub const VOICE_CONVERSATION_ID: &str = "1b040474-33e4-4f64-8918-fd28993ad0d4";
/// Web chat handled only by the "Billing Assistant Bot" flow (no agent, no
/// queue); its chat recording is ready at once (no `mediaUris`: chats have none).
pub const BOT_CHAT_CONVERSATION_ID: &str = "8f0eaeea-ff1b-42a4-aeab-56516637a5a4";
/// Inbound call abandoned in the Billing Support queue (no agent); the
/// recording never becomes ready; no summary.
pub const ABANDONED_CONVERSATION_ID: &str = "3c11b4de-6531-468d-bdc3-5fe21777ebbd";
/// Inbound call handled by Tom in Billing Support whose recording becomes
/// ready on the fourth poll (after 3 "not ready" answers); no summary.
pub const SLOW_RECORDING_CONVERSATION_ID: &str = "27ad8e3b-33fd-45f6-b686-ace6dbebeb7e";
/// Web messaging conversation handled by Ana in Billing Support; recording
/// ready at once; has a summary.
pub const MESSAGING_CONVERSATION_ID: &str = "90c22450-e3f7-4f6d-af82-e91b93b5707f";

/// The bot flow's name.
pub const BOT_FLOW_NAME: &str = "Billing Assistant Bot";
/// The queue's name.
pub const BILLING_QUEUE_NAME: &str = "Billing Support";

/// Loads the demo organisation into `state`.
pub fn load(state: &SandboxState) {
    let maria = UserSeed::new(
        SUPERVISOR_MARIA_ID,
        "Maria Lopez",
        "maria.lopez@example.com",
    )
    .title("Billing Team Supervisor")
    .superiors([MANAGER_HELEN_ID]);
    let james = UserSeed::new(
        SUPERVISOR_JAMES_ID,
        "James Okafor",
        "james.okafor@example.com",
    )
    .title("Billing Team Supervisor")
    .superiors([MANAGER_HELEN_ID]);
    let agent = |id: &str, name: &str, email: &str, superior: &str| {
        UserSeed::new(id, name, email)
            .title("Billing Agent")
            .role("Agent")
            .superiors([superior])
    };
    state.add_user(
        UserSeed::new(MANAGER_HELEN_ID, "Helen Park", "helen.park@example.com")
            .title("Contact Center Manager"),
    );
    let mut sofia = QueueMemberSeed::agent(agent(
        AGENT_SOFIA_ID,
        "Sofia Rossi",
        "sofia.rossi@example.com",
        SUPERVISOR_JAMES_ID,
    ));
    sofia.joined = false;
    let mut queue = QueueSeed::new(
        BILLING_QUEUE_ID,
        BILLING_QUEUE_NAME,
        vec![
            QueueMemberSeed::supervisor(maria),
            QueueMemberSeed::supervisor(james),
            QueueMemberSeed::agent(agent(
                AGENT_PRIYA_ID,
                "Priya Nair",
                "priya.nair@example.com",
                SUPERVISOR_MARIA_ID,
            )),
            QueueMemberSeed::agent(agent(
                AGENT_TOM_ID,
                "Tom Becker",
                "tom.becker@example.com",
                SUPERVISOR_JAMES_ID,
            )),
            QueueMemberSeed::agent(agent(
                AGENT_ANA_ID,
                "Ana Silva",
                "ana.silva@example.com",
                SUPERVISOR_MARIA_ID,
            )),
            QueueMemberSeed::agent(agent(
                AGENT_LIAM_ID,
                "Liam Chen",
                "liam.chen@example.com",
                SUPERVISOR_JAMES_ID,
            )),
            sofia,
        ],
    );
    queue.description = Some("Invoices, refunds and payment problems".to_owned());
    state.add_queue(queue);

    let now = Utc::now();
    let ago = |minutes: i64| now - Duration::minutes(minutes);
    let agent_handled = |user_id: &str, name: &str| HandledBy::Agent {
        user_id: user_id.to_owned(),
        name: name.to_owned(),
    };
    state.add_conversation(
        ConversationSeed::new(
            VOICE_CONVERSATION_ID,
            MediaType::Voice,
            agent_handled(AGENT_PRIYA_ID, "Priya Nair"),
        )
        .times(ago(14), Some(ago(5)))
        .queue(BILLING_QUEUE_ID)
        .wrapup(WRAPUP_REFUND_ID, "Billing - Refund request")
        .customer("Jordan Smith", "tel:+15551230001")
        .recording_ready_after(0)
        .summary(
            "Customer called about a duplicate charge on the March invoice. The agent confirmed \
             the duplicate and opened a refund, but the customer was unhappy that the refund \
             takes 5-7 business days and asked to speak to a supervisor.",
        ),
    );
    state.add_conversation(
        ConversationSeed::new(
            BOT_CHAT_CONVERSATION_ID,
            MediaType::Chat,
            HandledBy::Bot {
                flow_name: BOT_FLOW_NAME.to_owned(),
            },
        )
        .times(ago(25), Some(ago(21)))
        .customer("Casey Morgan", "casey.morgan@example.net")
        .recording_ready_after(0),
    );
    state.add_conversation(
        ConversationSeed::new(
            ABANDONED_CONVERSATION_ID,
            MediaType::Voice,
            HandledBy::Unassigned,
        )
        .times(ago(40), Some(ago(33)))
        .queue(BILLING_QUEUE_ID)
        .customer("Riley Thompson", "tel:+15551230002"),
    );
    state.add_conversation(
        ConversationSeed::new(
            SLOW_RECORDING_CONVERSATION_ID,
            MediaType::Voice,
            agent_handled(AGENT_TOM_ID, "Tom Becker"),
        )
        .times(ago(9), Some(ago(2)))
        .queue(BILLING_QUEUE_ID)
        .wrapup(WRAPUP_PAYMENT_ID, "Billing - Payment issue")
        .customer("Alex Rivera", "tel:+15551230003")
        .recording_ready_after(3),
    );
    state.add_conversation(
        ConversationSeed::new(
            MESSAGING_CONVERSATION_ID,
            MediaType::Message,
            agent_handled(AGENT_ANA_ID, "Ana Silva"),
        )
        .times(ago(60), Some(ago(48)))
        .queue(BILLING_QUEUE_ID)
        .wrapup(WRAPUP_PAYMENT_ID, "Billing - Payment issue")
        .customer("Sam Patel", "+15551230004")
        .recording_ready_after(0)
        .summary(
            "Customer's card payment was declined twice. The agent could not find the cause \
             and asked the customer to try again tomorrow; the customer was frustrated.",
        ),
    );
}
