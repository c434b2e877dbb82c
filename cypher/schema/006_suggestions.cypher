// Suggested experiments (lpm_kg.graph.suggestions): a SuggestionPlan per `lpm-kg suggest` call
// (its id a digest of run, strategy and settings) and its Suggestion nodes, each MERGEd on its id.
CREATE CONSTRAINT suggestion_plan_id IF NOT EXISTS FOR (n:SuggestionPlan) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT suggestion_id IF NOT EXISTS FOR (n:Suggestion) REQUIRE n.id IS UNIQUE;
